/// The units hosts hand to clocks, sleeps and JSON.
extension Duration {
    /// As fractional seconds, for `Thread.sleep` and `Date` arithmetic.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// As whole milliseconds (truncated), for JSON output.
    public var inMilliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

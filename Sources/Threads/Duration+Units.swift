/// The units hosts hand to clocks, sleeps and JSON.
extension Duration {
    /// As fractional seconds, for `Thread.sleep` and `Date` arithmetic.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// As whole milliseconds (truncated), for JSON output.
    public var inMilliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }

    /// As whole microseconds (truncated), for the lines a worker reports.
    public var inMicroseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
}

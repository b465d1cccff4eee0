/// The units the host hands to clocks, sleeps, servers and JSON. One home, so that every conversion
/// truncates or rounds the same way. (PluginKit keeps its own: a plugin links nothing of the host's.)
extension Duration {
    /// As fractional seconds, for `Thread.sleep` and `Date` arithmetic.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// As whole milliseconds (truncated), for JSON output.
    public var inMilliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }

    /// As whole microseconds (truncated), for the lines a worker reports.
    public var inMicroseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }

    /// Whole microseconds, rounded up so a short lease or delay never becomes zero; negative counts as zero.
    public var roundedUpMicroseconds: Int64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        return seconds * 1_000_000 + (attoseconds + 999_999_999_999) / 1_000_000_000_000
    }

    /// Whole milliseconds, rounded up so a short lease, delay or poll never becomes zero; negative
    /// counts as zero.
    public var roundedUpMilliseconds: Int {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        return Int(seconds) * 1000 + Int((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }
}

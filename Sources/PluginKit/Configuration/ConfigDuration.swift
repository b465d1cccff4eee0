import Foundation

/// Seconds in a duration written as the host writes its own: `250ms`, `30s`, `15m`, `24h`, `2d`, or a
/// sum such as `1h30m`. Nil when the text is not such a duration.
///
/// For a plugin key that takes a duration, so it reads like the host's keys around it:
/// ```swift
/// guard let seconds = durationSeconds(text), seconds >= 60 else {
///     throw PluginConfigurationError(at: "stuck_after", message: "expected a duration of at least 1m such as 2h, found '\(text)'")
/// }
/// ```
public func durationSeconds(_ text: String) -> Double? {
    let units: [String: Double] = ["ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400]
    var total = 0.0
    var rest = Substring(text.trimmingCharacters(in: .whitespaces))
    guard !rest.isEmpty else { return nil }
    while !rest.isEmpty {
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Double(digits) else { return nil }
        rest = rest.dropFirst(digits.count)
        let unit = rest.prefix { $0.isASCII && $0.isLetter }
        guard let scale = units[String(unit)] else { return nil }
        rest = rest.dropFirst(unit.count)
        total += value * scale
    }
    return total
}

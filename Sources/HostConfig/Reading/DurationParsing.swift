import Durations

/// Parses the durations a config file uses: `250ms`, `30s`, `5m`, `1h`, `2d`, and sums like `1h30m`.
enum DurationParser {
    struct Failure: Error {
        let message: String
    }

    static func parse(_ text: String) throws(Failure) -> Duration {
        let trimmed = text.trimmingWhitespace
        guard !trimmed.isEmpty else { throw Failure(message: "expected a duration like 30s, found an empty value") }
        if Int(trimmed) != nil {
            throw Failure(message: "'\(trimmed)' has no unit; write it like \(trimmed)s or \(trimmed)ms")
        }
        var total = Duration.zero
        var rest = Substring(trimmed)
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            let afterDigits = rest.dropFirst(digits.count)
            let unit = afterDigits.prefix { $0.isLetter }
            guard let amount = Double(digits), !unit.isEmpty else {
                throw Failure(message: "'\(trimmed)' is not a duration; use a number and a unit: 250ms, 30s, 5m, 1h, 2d")
            }
            let seconds: Double
            switch unit {
            case "ms": seconds = amount / 1000
            case "s": seconds = amount
            case "m": seconds = amount * 60
            case "h": seconds = amount * 3600
            case "d": seconds = amount * 86400
            default:
                throw Failure(message: "unknown unit '\(unit)' in '\(trimmed)'; units are ms, s, m, h, d")
            }
            // A century is longer than any timeout, retention or interval anyone means.
            guard seconds * 1000 + Double(total.components.seconds) * 1000 < 3.2e12 else {
                throw Failure(message: "'\(trimmed)' is longer than 100 years")
            }
            total += .milliseconds(Int64((seconds * 1000).rounded()))
            rest = afterDigits.dropFirst(unit.count)
        }
        return total
    }
}

extension Duration {
    /// The shortest config spelling: `90s` → `1m30s`, `250ms`.
    public var configText: String {
        var milliseconds = inMilliseconds
        if milliseconds == 0 { return "0s" }
        var parts: [String] = []
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if milliseconds >= size {
                parts.append("\(milliseconds / size)\(unit)")
                milliseconds %= size
            }
        }
        return parts.joined()
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

/// A duration the operator typed that does not parse; the message says how to write one.
public struct DurationSyntaxError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

extension Duration {
    /// Parses `250ms`, `30s`, `5m`, `1h`, `2d` or sums like `1h30m`, as config files write them.
    public init(configText text: String) throws(DurationSyntaxError) {
        do {
            self = try DurationParser.parse(text)
        } catch {
            throw DurationSyntaxError(description: error.message)
        }
    }
}

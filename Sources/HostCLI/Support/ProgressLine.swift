import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A count updated in place on stderr ("retried 1200/5000") while a long operation runs, so an
/// operator at a terminal sees it move. Stays silent when stderr is not a terminal: a script or a
/// log file gets the final summary only, not hundreds of carriage returns.
struct ProgressLine {
    private let enabled: Bool
    private var lastDrawn = ContinuousClock.now - .seconds(1)
    private var drawn = false

    init(enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.enabled = enabled
    }

    /// Redraws the line, at most ten times a second, and always for the last item.
    mutating func update(_ text: @autoclosure () -> String, final: Bool = false) {
        guard enabled else { return }
        let now = ContinuousClock.now
        guard final || now - lastDrawn >= .milliseconds(100) else { return }
        lastDrawn = now
        drawn = true
        // \r back to the start of the line, ESC[K erases what a longer earlier text left.
        FileHandle.standardError.write(Data("\r\(text())\u{1B}[K".utf8))
    }

    /// Erases the line, so the summary that follows starts clean.
    mutating func clear() {
        guard enabled, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        drawn = false
    }
}

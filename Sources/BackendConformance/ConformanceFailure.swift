/// A backend did not do what the ``JobBackend`` contract says, in one scenario of ``BackendConformance``.
public struct ConformanceFailure: Error, CustomStringConvertible, Sendable {
    /// What was expected and what happened instead.
    public let message: String
    /// Where in the suite the check failed, `file:line`.
    public let location: String

    public init(_ message: String, fileID: StaticString = #fileID, line: UInt = #line) {
        self.message = message
        self.location = "\(fileID):\(line)"
    }

    public var description: String { "\(message) (\(location))" }
}

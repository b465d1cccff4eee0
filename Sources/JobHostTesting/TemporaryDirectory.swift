import Foundation
import Glibc

/// A fresh, private directory under the system temporary directory, for one test or one server.
///
/// Nothing removes it automatically: a value type has no `deinit`, and servers remove theirs when
/// they stop. The `jobhost-test-` prefix makes leftovers of crashed test runs easy to find.
public struct TemporaryDirectory: Sendable, Hashable {
    /// The directory's location.
    public let url: URL

    /// The directory's location as a file system path, the form processes take as arguments.
    public var path: String { url.path }

    private init(url: URL) {
        self.url = url
    }

    /// Creates a new, empty directory with a unique name, readable only by the current user.
    ///
    /// `mkdtemp` rather than a random name plus `createDirectory`: it picks the name and creates
    /// the directory in one step, so two tests can never be handed the same directory.
    ///
    /// - Parameter prefix: the start of the directory's name.
    public static func create(prefix: String = "jobhost-test-") throws -> TemporaryDirectory {
        let base = FileManager.default.temporaryDirectory.path
        var template = Array("\(base)/\(prefix)XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HarnessError.systemCall("mkdtemp in \(base)", errno: errno)
        }
        return TemporaryDirectory(url: URL(fileURLWithPath: String(cString: created), isDirectory: true))
    }

    /// Deletes the directory and everything in it; deleting one that is already gone is not an
    /// error, so cleanup paths can call it unconditionally.
    public func remove() throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        try FileManager.default.removeItem(at: url)
    }
}

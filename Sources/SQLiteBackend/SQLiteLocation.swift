import Backend
import CSQLite
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the jobs file lives, checked before SQLite opens it: its directory is created when missing,
/// and a file on a network filesystem is refused, since SQLite's locks and its shared-memory index are
/// not reliable there (two hosts could take the same job).
struct SQLiteLocation: Sendable {
    let path: String

    init(path: String) {
        self.path = path
    }

    /// Filesystems whose locking SQLite cannot rely on, by `statfs` magic number.
    static let networkFilesystems: [Int: String] = [
        0x6969: "NFS", 0x517B: "SMB", 0xFF53_4D42: "CIFS", 0xFE53_4D42: "SMB2", 0x5346_414F: "AFS", 0x7375_7245: "Coda",
        0x0102_1997: "9P", 0x00C3_6400: "Ceph", 0x6573_5546: "FUSE (sshfs, s3fs and the like)", 0x0BD0_0BD0: "Lustre",
        0x0116_1970: "GFS2", 0x7461_636F: "OCFS2",
    ]

    /// Creates the file's directory if it is missing; throws `.invalid` naming the path when it cannot,
    /// or when the directory is on a network filesystem.
    func prepare() throws(BackendError) {
        guard !path.isEmpty, !path.utf8.contains(0) else {
            throw BackendError(.invalid, "the SQLite path is empty or holds a NUL byte")
        }
        let directory = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw BackendError(.invalid, "cannot create the directory \(directory) for the SQLite file \(path): \(error.localizedDescription)")
            }
        } else if !isDirectory.boolValue {
            throw BackendError(.invalid, "the SQLite file \(path) cannot be created: \(directory) is not a directory")
        }
        let type = jobhost_filesystem_type(directory)
        if type != -1, let name = Self.networkFilesystems[Int(UInt32(truncatingIfNeeded: type))] {
            throw BackendError(
                .invalid,
                "the SQLite file \(path) is on a network filesystem (\(name)); SQLite's locks are not reliable there. "
                    + "Keep the file on a local disk, or use Redis or PostgreSQL to share jobs between machines")
        }
        if access(directory, W_OK) != 0 {
            throw BackendError(.invalid, "cannot write in \(directory), where the SQLite file \(path) and its journal live: \(String(cString: strerror(errno)))")
        }
    }
}

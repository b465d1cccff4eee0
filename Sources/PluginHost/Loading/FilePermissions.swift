import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Refuses a plugin that someone other than its owner could have replaced: the file and every
/// directory above it must be owned by root or by the host's user and not writable by group or others.
///
/// As in sudo (and unlike OpenSSH), a sticky directory owned by root (`/tmp`) counts as safe: nobody
/// can rename or delete another user's entries in it.
enum FilePermissions {
    static func problem(withFileAt path: String) -> String? {
        let me = geteuid()
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot stat: \(String(cString: strerror(errno)))" }
        if let problem = ownerAndMode(of: info, path: path, me: me, isDirectory: false) { return problem }
        return problem(withDirectoryAt: (path as NSString).deletingLastPathComponent)
    }

    /// The same check for a directory and every directory above it (one holding a symlink to a
    /// plugin: whoever can write there can point the link elsewhere).
    static func problem(withDirectoryAt start: String) -> String? {
        let me = geteuid()
        var info = stat()
        var directory = start
        while !directory.isEmpty {
            guard stat(directory, &info) == 0 else { return "cannot stat \(directory): \(String(cString: strerror(errno)))" }
            if let problem = ownerAndMode(of: info, path: directory, me: me, isDirectory: true) { return problem }
            if directory == "/" { break }
            directory = (directory as NSString).deletingLastPathComponent
        }
        return nil
    }

    private static func ownerAndMode(of info: stat, path: String, me: uid_t, isDirectory: Bool) -> String? {
        let what = isDirectory ? "directory \(path)" : "the file"
        if info.st_uid != 0 && info.st_uid != me {
            return "\(what) is owned by uid \(info.st_uid), neither root nor the host's user (uid \(me)); run: chown \(me) '\(path)'"
        }
        let mode = info.st_mode & 0o7777
        let writableByOthers = mode & 0o022 != 0
        let stickyRootDirectory = isDirectory && mode & 0o1000 != 0 && info.st_uid == 0
        if writableByOthers && !stickyRootDirectory {
            return "\(what) is writable by group or others (mode \(String(mode, radix: 8))), so another user could replace the plugin; run: chmod go-w '\(path)'"
        }
        return nil
    }
}

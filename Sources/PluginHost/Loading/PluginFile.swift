import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plugin path with its symbolic links followed, checked to lead to a regular file.
///
/// Links are followed one at a time, before anything else looks at the file, so that a refusal says
/// what the path really is — a link to `/dev/zero` is "a character device", not a file whose mode
/// someone should change — and so that the permission check looks at the file `dlopen` will map.
struct PluginFile {
    /// The canonical path of the regular file (every link, in the file's name or its directories,
    /// resolved): what is checked and what `dlopen` is given.
    let path: String
    /// The directories holding each symbolic link followed on the way: whoever may write in one of
    /// them can point the plugin elsewhere, so their permissions are checked too.
    let linkDirectories: [String]

    /// Why the path leads to no regular file.
    struct Problem: Error {
        let check: PluginRefusal.Check
        let reason: String
    }

    /// The kernel's own limit on links followed in one lookup.
    static let maximumLinks = 40

    /// Follows `given` (absolute) to a regular file.
    static func resolve(_ given: String) throws(Problem) -> PluginFile {
        var current = given
        var seen: Set<String> = [given]
        var linkDirectories: [String] = []
        var info = stat()
        while true {
            guard lstat(current, &info) == 0 else {
                let code = errno
                if code == ELOOP { throw loop(given) }
                if code == ENOENT || code == ENOTDIR {
                    throw Problem(
                        check: .notFound,
                        reason: current == given
                            ? "no file at \(given)" : "\(given) is a symlink to \(display(current)), which does not exist")
                }
                throw Problem(check: .notFound, reason: "cannot look at \(display(current)): \(String(cString: strerror(code)))")
            }
            guard info.st_mode & S_IFMT == S_IFLNK else { break }
            guard let target = readLink(current) else {
                throw Problem(check: .notFound, reason: "cannot read the symlink \(current): \(String(cString: strerror(errno)))")
            }
            let directory = (current as NSString).deletingLastPathComponent
            linkDirectories.append(directory)
            // Relative to the link's own directory, as the kernel reads it; not normalised, because
            // `..` after a linked directory is not what it looks like.
            current = target.hasPrefix("/") ? target : (directory == "/" ? "/" : directory + "/") + target
            guard seen.insert(current).inserted, linkDirectories.count <= maximumLinks else { throw loop(given) }
        }
        guard let canonical = realPath(current) else {
            let code = errno
            if code == ELOOP { throw loop(given) }
            throw Problem(check: .notFound, reason: "cannot resolve \(display(current)): \(String(cString: strerror(code)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            let what = kind(info.st_mode)
            throw Problem(
                check: .notRegularFile,
                reason: linkDirectories.isEmpty
                    ? "not a regular file: \(given) is \(what)" : "not a regular file: \(given) is a symlink to \(canonical), \(what)")
        }
        return PluginFile(path: canonical, linkDirectories: linkDirectories)
    }

    private static func loop(_ given: String) -> Problem {
        Problem(check: .notRegularFile, reason: "not a regular file: \(given) is a symlink loop")
    }

    /// A path as the lookup reached it, with `.` and `..` folded for reading (only shown, never used).
    private static func display(_ path: String) -> String {
        URL(fileURLWithPath: path).standardized.path
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        default: "of unknown type"
        }
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

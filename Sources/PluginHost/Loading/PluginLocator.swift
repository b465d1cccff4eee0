import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Finds `lib<name>.so` in the search paths, first match wins.
struct PluginLocator: Sendable {
    let searchPaths: [URL]

    enum Result {
        case found(URL)
        case notFound(String)
    }

    func locate(_ name: String) -> Result {
        let fileName = "lib\(name).so"
        for directory in searchPaths {
            let candidate = directory.appendingPathComponent(fileName)
            // lstat, not a check that follows links: a broken link is this plugin's file, to be
            // refused by name, not a reason to load another copy from a later directory.
            var info = stat()
            if lstat(candidate.path, &info) == 0 { return .found(candidate) }
        }
        var reason = "no \(fileName) in \(searchPaths.map(\.path).joined(separator: ", "))"
        if let nearMiss = caseInsensitiveMatch(for: fileName) {
            let other = String(nearMiss.lastPathComponent.dropFirst(3).dropLast(3))
            reason += "; found \(nearMiss.path): did you mean plugin '\(other)'?"
        } else {
            reason += "; build it (swift build), add its directory to host.plugin_paths or JOBHOST_PLUGIN_PATH, or set the plugin's 'path'"
        }
        return .notFound(reason)
    }

    private func caseInsensitiveMatch(for fileName: String) -> URL? {
        for directory in searchPaths {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            if let match = entries.first(where: { $0.lowercased() == fileName.lowercased() }) {
                return directory.appendingPathComponent(match)
            }
        }
        return nil
    }

    /// `JOBHOST_PLUGIN_PATH` (colon-separated), then the config's `plugin_paths`, then the directory of
    /// the running executable, where `swift build` puts the plugins it builds.
    static func defaultSearchPaths(configured: [URL], environment: [String: String]) -> [URL] {
        var paths: [URL] = []
        if let variable = environment["JOBHOST_PLUGIN_PATH"] {
            paths += variable.split(separator: ":").map { URL(fileURLWithPath: String($0)).standardizedFileURL }
        }
        paths += configured
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            paths.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
        }
        var seen = Set<String>()
        return paths.filter { seen.insert($0.path).inserted }
    }
}

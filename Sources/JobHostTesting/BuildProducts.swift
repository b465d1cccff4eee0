import Foundation

/// Where `swift build` put the products this test run can use: the host executable and the plugins.
public enum BuildProducts {
    /// The build's bin directory: the test runner lives there, beside `host` and every `lib<Plugin>.so`.
    public static let binDirectory: URL = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent()
    }()

    /// The `host` executable.
    public static var host: URL { binDirectory.appendingPathComponent("host") }

    /// `lib<name>.so` built from `Plugins/<name>`.
    public static func plugin(_ name: String) -> URL { binDirectory.appendingPathComponent("lib\(name).so") }

    /// The repository's root, found from this file's place in it.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The directory holding `jobhost.h`, for compiling C plugins.
    public static var abiIncludeDirectory: URL {
        repositoryRoot.appendingPathComponent("Sources/JobHostABI/include")
    }
}

import Foundation

/// `cc` (or `c++`) exited with a failure; `output` is what it printed on standard error.
public struct CCompilerError: Error, CustomStringConvertible {
    public let arguments: [String]
    public let status: Int32
    public let output: String

    public var description: String {
        "cc \(arguments.joined(separator: " ")) exited with status \(status): \(output)"
    }
}

/// Compiles `source` into `lib<name>.so` in `dir` (where `<name>.c` is also written) and
/// returns the library's URL. `extraFlags` go after the source file, so linker flags work too.
@discardableResult
public func compileSharedLibrary(source: String, name: String, in dir: URL, extraFlags: [String] = []) throws -> URL {
    try compileC(
        source: source, name: name, output: "lib\(name).so", in: dir, flags: ["-shared", "-fPIC"] + extraFlags)
}

/// Writes `source` to `<name>.c` in `dir`, runs `cc <flags> -o <output> <name>.c` there and
/// returns the URL of `output`. Use it for objects (`-c`) and executables.
@discardableResult
public func compileC(source: String, name: String, output: String, in dir: URL, flags: [String] = []) throws -> URL {
    let sourceURL = dir.appendingPathComponent("\(name).c")
    let outputURL = dir.appendingPathComponent(output)
    try source.write(to: sourceURL, atomically: true, encoding: .utf8)
    try runCompiler("cc", flags + ["-o", outputURL.path, sourceURL.path], in: dir)
    return outputURL
}

/// Writes `source` to `<name>.cpp` in `dir` and compiles it with `c++ -fPIC -c` into `<name>.o`,
/// an object a C plugin can link (with `-lstdc++`). Returns the object's URL.
@discardableResult
public func compileCXXObject(source: String, name: String, in dir: URL) throws -> URL {
    let sourceURL = dir.appendingPathComponent("\(name).cpp")
    let outputURL = dir.appendingPathComponent("\(name).o")
    try source.write(to: sourceURL, atomically: true, encoding: .utf8)
    try runCompiler("c++", ["-fPIC", "-c", "-o", outputURL.path, sourceURL.path], in: dir)
    return outputURL
}

/// Whether a C++ compiler is installed (`scripts/install-deps --test` installs g++).
public var cxxCompilerIsInstalled: Bool {
    ProcessInfo.processInfo.environment["PATH", default: "/usr/bin:/bin"].split(separator: ":").contains {
        FileManager.default.isExecutableFile(atPath: "\($0)/c++")
    }
}

private func runCompiler(_ compiler: String, _ arguments: [String], in dir: URL) throws {
    let process = Process()
    // Through env so the compiler is found on PATH, wherever the distribution put it.
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [compiler] + arguments
    process.currentDirectoryURL = dir
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    // Read before waiting: a compiler filling the pipe would otherwise never exit.
    let output = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationReason == .exit, process.terminationStatus == 0 else {
        throw CCompilerError(
            arguments: [compiler] + arguments, status: process.terminationStatus, output: String(decoding: output, as: UTF8.self))
    }
}

import Foundation

/// `cc` exited with a failure; `output` is what it printed on standard error.
struct CCompilerError: Error, CustomStringConvertible {
    let arguments: [String]
    let status: Int32
    let output: String

    var description: String {
        "cc \(arguments.joined(separator: " ")) exited with status \(status): \(output)"
    }
}

/// Compiles `source` into `lib<name>.so` in `dir` (where `<name>.c` is also written) and
/// returns the library's URL. `extraFlags` go after the source file, so linker flags work too.
@discardableResult
func compileSharedLibrary(source: String, name: String, in dir: URL, extraFlags: [String] = []) throws -> URL {
    try compileC(
        source: source, name: name, output: "lib\(name).so", in: dir, flags: ["-shared", "-fPIC"] + extraFlags)
}

/// Writes `source` to `<name>.c` in `dir`, runs `cc <flags> -o <output> <name>.c` there and
/// returns the URL of `output`. Use it for objects (`-c`) and executables.
@discardableResult
func compileC(source: String, name: String, output: String, in dir: URL, flags: [String] = []) throws -> URL {
    let sourceURL = dir.appendingPathComponent("\(name).c")
    let outputURL = dir.appendingPathComponent(output)
    try source.write(to: sourceURL, atomically: true, encoding: .utf8)
    try runCC(flags + ["-o", outputURL.path, sourceURL.path], in: dir)
    return outputURL
}

private func runCC(_ arguments: [String], in dir: URL) throws {
    let process = Process()
    // Through env so cc is found on PATH, wherever the distribution put it.
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["cc"] + arguments
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
            arguments: arguments, status: process.terminationStatus, output: String(decoding: output, as: UTF8.self))
    }
}

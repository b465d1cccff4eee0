import Foundation
import Glibc
import Synchronization

/// The repository's Rust plugin (`Plugins/RustHello`), built by cargo for the tests that load it.
///
/// `swift build` does not build it, so the tests do: `cargo build --release --offline --locked`, with
/// `CARGO_TARGET_DIR` in a temporary directory of its own, so that nothing is written into the
/// checkout. One build serves every test of a process; the directory is removed when the process exits.
public enum RustPlugin {
    /// The crate's directory in the repository.
    public static let crate = BuildProducts.repositoryRoot.appendingPathComponent("Plugins/RustHello")

    /// cargo on `PATH`, else in `$HOME/.cargo/bin` (where rustup puts it, often not on a service's
    /// `PATH`); nil when there is none (`scripts/install-deps --test` installs Debian's).
    public static var cargo: String? {
        let environment = ProcessInfo.processInfo.environment
        let path = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let home = environment["HOME"].map { ["\($0)/.cargo/bin"] } ?? []
        return (path + home).map { "\($0)/cargo" }.first { access($0, X_OK) == 0 }
    }

    /// Why cargo failed to build the crate.
    public struct BuildFailure: Error, CustomStringConvertible {
        public let description: String
    }

    private static let built = Mutex<Result<URL, BuildFailure>?>(nil)

    /// `libRustHello.so`, built on the first call (blocking, for as long as cargo takes).
    public static func library() throws(BuildFailure) -> URL {
        // Held while cargo runs: a second caller waits for the first build rather than starting its own.
        try built.withLock { built throws(BuildFailure) in
            if built == nil { built = build() }
            return try built!.get()
        }
    }

    /// The build's directory, removed at exit: a `let` global, because a C exit hook captures nothing.
    private static let buildDirectory = Mutex<String?>(nil)

    private static func build() -> Result<URL, BuildFailure> {
        guard let cargo else {
            return .failure(BuildFailure(description: "no cargo on PATH or in $HOME/.cargo/bin; run scripts/install-deps --test"))
        }
        let directory: TemporaryDirectory
        do {
            directory = try TemporaryDirectory.create(prefix: "jobhost-test-cargo-")
        } catch {
            return .failure(BuildFailure(description: "\(error)"))
        }
        buildDirectory.withLock { $0 = directory.path }
        atexit {
            if let path = RustPlugin.buildDirectory.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
        }
        var environment = ProcessInfo.processInfo.environment
        environment["CARGO_TARGET_DIR"] = directory.path
        environment["CARGO_TERM_COLOR"] = "never"
        // rustc writes its scratch files beside its output unless told otherwise; keep them there too.
        environment["TMPDIR"] = directory.path
        let arguments = ["build", "--release", "--offline", "--locked", "--manifest-path", crate.appendingPathComponent("Cargo.toml").path]
        do {
            let output = try ChildProcess.run(cargo, arguments, environment: environment, timeout: .seconds(600))
            guard output.status == 0 else {
                return .failure(BuildFailure(description: "cargo \(arguments.joined(separator: " ")) exited with \(output.status):\n\(output.stderr)"))
            }
        } catch {
            return .failure(BuildFailure(description: "cargo: \(error)"))
        }
        return .success(directory.url.appendingPathComponent("release/libRustHello.so"))
    }
}

import Foundation
import HostConfig
import JobHostTesting
import Logging
import Testing

@testable import PluginHost

/// The hostile-plugin corpus: each bad file is refused with the check that caught it, and the good
/// plugins still load beside them.
///
/// A class, so that each test's directory is removed in `deinit` when the test ends. Plugins
/// loaded from it stay mapped (they are never unloaded), so removing their files is safe.
@Suite(.serialized)
final class PluginLoaderTests {
    let directory: URL
    let logger = Logger(label: "test")

    init() throws {
        directory = try makeTemporaryDirectory()
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    func plugin(_ name: String, path: URL? = nil, config: String = "{}") -> PluginConfig {
        PluginConfig(name: name, path: path, configJSON: config, location: .init(file: "test.yaml", line: 1, column: 1))
    }

    func loader(_ extraPaths: [URL] = []) -> PluginLoader {
        PluginLoader(searchPaths: [directory] + extraPaths + [BuildProducts.binDirectory], logger: logger)
    }

    func refusal(_ result: PluginLoadResult) -> PluginRefusal? {
        if case .refused(let refusal) = result { return refusal }
        return nil
    }

    @Test func loadsTheRepositoryPlugins() throws {
        let loader = loader()
        let results = loader.load([plugin("Echo"), plugin("Greeter"), plugin("TestPlugin")])
        let loaded = results.compactMap { if case .loaded(let plugin) = $0 { plugin } else { nil } }
        #expect(loaded.map(\.name) == ["Echo", "Greeter", "TestPlugin"], "\(results)")
        #expect(loaded.map(\.declaredName) == ["echo", "greeter", "test"])
        #expect(loaded[0].abiVersion == "1.1")
        #expect(loaded[1].handlers == [HandlerInfo(name: "greeter.hello", description: "Logs a greeting for {\"name\": …}", defaultTimeout: .seconds(5))])
        #expect(loader.registry.names.isSuperset(of: ["echo.log", "greeter.hello", "test.flaky", "test.sleep"]))
        #expect(loader.registry["test.flaky"]?.plugin == "TestPlugin")
    }

    @Test func theHostileCorpusIsRefusedAndTheGoodStillLoad() throws {
        try "#!/bin/sh\necho not a plugin\n".write(to: directory.appendingPathComponent("libText.so"), atomically: true, encoding: .utf8)
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: directory.appendingPathComponent("libNoise.so"))
        try CPluginSource(exportsEntry: false).build(as: "NoEntry", in: directory)
        try CPluginSource(name: "future", abiMajor: "999").build(as: "Future", in: directory)
        try CPluginSource(name: "tiny", descriptorSize: "8").build(as: "Tiny", in: directory)
        try CPluginSource(name: "null", returnsNull: true).build(as: "Null", in: directory)
        try CPluginSource(name: "copycat", handlerNames: ["copycat.own", "greeter.hello"]).build(as: "Copycat", in: directory)
        try CPluginSource(name: "twice", handlerNames: ["twice.run", "twice.run"]).build(as: "Twice", in: directory)
        try CPluginSource(name: "badname", handlerNames: ["Bad Name"]).build(as: "BadName", in: directory)
        // Cut to 4 KiB, this name would be a valid handler name the plugin never declared.
        try CPluginSource(name: "longname", handlerNames: ["longname." + String(repeating: "x", count: 5000)]).build(as: "LongName", in: directory)
        try CPluginSource(name: "longname." + String(repeating: "y", count: 300), handlerNames: ["longplugin.run"]).build(as: "LongPlugin", in: directory)
        try CPluginSource(name: "refuser", initBody: #"snprintf(err, cap, "missing api key for %s", "noctua"); return JH_ERROR;"#)
            .build(as: "Refuser", in: directory)
        let writable = try CPluginSource(name: "writable", handlerNames: ["writable.run"]).build(as: "Writable", in: directory)
        chmod(writable.path, 0o664)
        #expect(mkfifo(directory.appendingPathComponent("libFifo.so").path, 0o644) == 0)

        let loader = loader()
        let names: [String] = [
            "Echo", "Text", "Noise", "NoEntry", "Future", "Tiny", "Null", "Greeter", "Copycat", "Twice",
            "BadName", "LongName", "LongPlugin", "Refuser", "Writable", "Fifo", "Missing", "TestPlugin",
        ]
        // A FIFO opened to be read blocks until a writer comes: `load` returning at all shows it was not.
        let results = loader.load(names.map { plugin($0) } + [plugin("Initless", path: directory.appendingPathComponent("libNope.so"))])
        let byName = Dictionary(uniqueKeysWithValues: results.map { ($0.name, $0) })

        func expectRefused(_ name: String, _ check: PluginRefusal.Check, _ fragment: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
            guard let refusal = byName[name].flatMap(refusal) else {
                Issue.record("\(name) was not refused: \(String(describing: byName[name]))", sourceLocation: sourceLocation)
                return
            }
            #expect(refusal.check == check, "\(refusal)", sourceLocation: sourceLocation)
            #expect(refusal.reason.contains(fragment), "\(refusal)", sourceLocation: sourceLocation)
            if check != .notFound {
                #expect(refusal.description.contains(directory.lastPathComponent), "names the file: \(refusal)", sourceLocation: sourceLocation)
            }
        }
        expectRefused("Text", .elf, ##"not an ELF file (it starts with "#!/bin/sh"##)
        expectRefused("Noise", .elf, "not an ELF file")
        expectRefused("NoEntry", .entrySymbol, "does not export jh_plugin_entry")
        expectRefused("Future", .abiVersion, "built for ABI major version 999 (abi_major), this host speaks 1")
        expectRefused("Tiny", .descriptor, "descriptor_size is 8 bytes, expected 72")
        expectRefused("Null", .descriptor, "jh_plugin_entry() returned NULL")
        expectRefused("Copycat", .duplicateHandler, "handler 'greeter.hello' is already registered by plugin 'Greeter'")
        expectRefused("Twice", .duplicateHandler, "declares handler 'twice.run' twice")
        expectRefused("BadName", .handlerName, "handler 'Bad Name' is not a valid name")
        expectRefused("LongName", .handlerName, "the name of handler #1 is 4096 bytes or more (or not terminated), longer than the 255 bytes")
        expectRefused("LongPlugin", .descriptor, "the descriptor's name is 309 bytes, longer than the 255 bytes")
        expectRefused("Refuser", .initFailed, "missing api key for noctua")
        expectRefused("Writable", .permissions, "writable by group or others (mode 664)")
        expectRefused("Writable", .permissions, "chmod go-w")
        expectRefused("Fifo", .notRegularFile, "FIFO")
        expectRefused("Missing", .notFound, "no libMissing.so in \(directory.path)")
        expectRefused("Initless", .notFound, "no file at \(directory.path)/libNope.so")

        for good in ["Echo", "Greeter", "TestPlugin"] {
            guard case .loaded = byName[good] else {
                Issue.record("\(good) should load beside the hostile plugins: \(String(describing: byName[good]))")
                continue
            }
        }
        // A refused plugin registers nothing, not even the handlers that did not clash.
        #expect(loader.registry["copycat.own"] == nil)
        #expect(loader.registry["greeter.hello"]?.plugin == "Greeter")
    }

    @Test func oddDescriptorsAreRefusedNotTrusted() throws {
        try CPluginSource(name: "odd", handlerSize: "41").build(as: "OddSize", in: directory)
        try CPluginSource(name: "Bad Name").build(as: "BadPluginName", in: directory)
        let loader = loader()
        let odd = try #require(refusal(loader.load(plugin("OddSize"))))
        #expect(odd.check == .descriptor && odd.reason.contains("handler_size is 41 bytes, expected a multiple of 8"))
        let badName = try #require(refusal(loader.load(plugin("BadPluginName"))))
        #expect(badName.check == .descriptor && badName.reason.contains("the plugin calls itself 'Bad Name'"))
    }

    @Test func oneLibraryLoadsOnceEvenUnderTwoNames() throws {
        let loader = loader()
        guard case .loaded = loader.load(plugin("Echo")) else {
            Issue.record("Echo did not load")
            return
        }
        let again = try #require(refusal(loader.load(plugin("EchoAgain", path: BuildProducts.plugin("Echo")))))
        #expect(again.check == .duplicatePlugin && again.reason == "this library is already loaded as plugin 'Echo'")
    }

    @Test func aGroupWritableDirectoryIsRefused() throws {
        let shared = directory.appendingPathComponent("shared")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: false)
        try CPluginSource().build(as: "InShared", in: shared)
        chmod(shared.path, 0o775)
        let result = PluginLoader(searchPaths: [shared], logger: logger).load(plugin("InShared"))
        let refused = try #require(refusal(result))
        #expect(refused.check == .permissions)
        #expect(refused.reason.contains("directory \(shared.path) is writable by group or others (mode 775)"))
        // The sticky, root-owned /tmp above it is fine, as in sudo; fixing the mode fixes the load.
        chmod(shared.path, 0o755)
        guard case .loaded = PluginLoader(searchPaths: [shared], logger: logger).load(plugin("InShared")) else {
            Issue.record("still refused after chmod go-w")
            return
        }
    }

    @Test func aMissingDependencyIsNamed() throws {
        let dependency = try compileSharedLibrary(source: "int helper(void) { return 1; }", name: "helperdep", in: directory)
        try CPluginSource(name: "needy", handlerNames: ["needy.run"]).build(
            as: "Needy", in: directory, extraFlags: ["-L", directory.path, "-Wl,--no-as-needed", "-lhelperdep"])
        try FileManager.default.removeItem(at: dependency)
        let refused = try #require(refusal(loader().load(plugin("Needy"))))
        #expect(refused.check == .dlopen)
        #expect(refused.reason.contains("a library it depends on is missing: libhelperdep.so"))
    }

    @Test func aTruncatedLibraryIsRefusedBeforeDlopen() throws {
        let full = try CPluginSource(name: "cut", handlerNames: ["cut.run"]).build(as: "Cut", in: directory)
        let bytes = try Data(contentsOf: full)
        // The second loadable segment starts at 4096; glibc would map it past the end of the file and
        // the process would die of SIGBUS inside dlopen.
        try bytes.prefix(4096 + 16).write(to: full)
        let refused = try #require(refusal(loader().load(plugin("Cut"))))
        #expect(refused.check == .elf)
        #expect(refused.reason.contains("truncated: a loadable segment ends at byte"), "\(refused)")
    }

    @Test func aCaseMismatchGetsASuggestion() throws {
        let refused = try #require(refusal(loader().load(plugin("echo"))))
        #expect(refused.check == .notFound)
        #expect(refused.reason.contains("did you mean plugin 'Echo'?"))
    }

    @Test func aSwiftPluginsInitErrorIsReported() throws {
        let refused = try #require(refusal(loader().load(plugin("TestPlugin", config: #"{"refuse":"no database configured"}"#))))
        #expect(refused.check == .initFailed)
        #expect(refused.reason == "no database configured")
    }

    @Test func aPluginConfigThatDoesNotDecodeIsReportedKeyByKey() throws {
        let refused = try #require(refusal(loader().load(plugin("Greeter", config: #"{"salutation": 42, "salutaion": "Hi"}"#))))
        #expect(refused.check == .initFailed)
        // One line per problem, in the form jobhost.h documents, for the host to place at each key.
        #expect(refused.reason == """
            config.salutaion: unknown key; did you mean 'salutation'?
            config.salutation: expected a string, found an integer
            """, "\(refused)")
    }

    @Test func aPluginBuiltWithPlainCNeedsNoSwiftRuntime() throws {
        let source = try String(contentsOf: BuildProducts.repositoryRoot.appendingPathComponent("Plugins/Echo/echo.c"), encoding: .utf8)
        let library = try compileSharedLibrary(
            source: source, name: "PlainEcho", in: directory, extraFlags: ["-I", BuildProducts.abiIncludeDirectory.path])
        let dependencies = try ChildProcess.run("/usr/bin/ldd", [library.path], timeout: .seconds(30)).stdout
        #expect(!dependencies.contains("libswift"), "\(dependencies)")
        guard case .loaded(let loaded) = loader().load(plugin("PlainEcho")) else {
            Issue.record("the plain C build did not load")
            return
        }
        #expect(loaded.handlers.map(\.name) == ["echo.log"])
    }
}

func makeTemporaryDirectory() throws -> URL {
    var template = Array((FileManager.default.temporaryDirectory.path + "/jobhost-test-XXXXXX").utf8CString)
    guard let created = mkdtemp(&template) else { throw POSIXError(.EIO) }
    let path = String(cString: created)
    chmod(path, 0o755)
    return URL(fileURLWithPath: path)
}

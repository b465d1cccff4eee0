import Foundation
import HostConfig
import JobHostTesting
import Logging
import Testing

@testable import PluginHost

/// What the loader itself says about a plugin file, in-process: which step it is in (what a worker
/// tells its supervisor), where a path's symlinks lead, what is wrong with a name, what dlopen meant.
/// Crashes, exits and hangs in a plugin's own code are refused through a worker process: see
/// `HostilePluginTests` in HostCLITests.
@Suite(.serialized)
final class PluginPathAndStepTests {
    let directory: URL
    let logger = Logger(label: "test")

    init() throws {
        directory = try makeTemporaryDirectory()
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    func plugin(_ name: String, path: URL? = nil) -> PluginConfig {
        PluginConfig(name: name, path: path, configJSON: "{}", location: .init(file: "test.yaml", line: 1, column: 1))
    }

    func loader() -> PluginLoader {
        PluginLoader(searchPaths: [directory], logger: logger)
    }

    func refusal(_ result: PluginLoadResult, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> PluginRefusal? {
        if case .refused(let refusal) = result { return refusal }
        Issue.record("not refused: \(result)", sourceLocation: sourceLocation)
        return nil
    }

    func link(_ name: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent(name).path, withDestinationPath: target)
    }

    // MARK: Steps

    @Test func eachStepIsToldBeforeItRuns() throws {
        let marker = directory.appendingPathComponent("constructed").path
        let library = try CPluginSource(
            name: "steps", handlerNames: ["steps.run"], initBody: "return JH_OK;",
            constructorBody: #"FILE *mark = fopen("\#(marker)", "w"); if (mark) fclose(mark);"#
        ).build(as: "Steps", in: directory)
        var told: [(PluginLoadStage, String, constructed: Bool)] = []
        let result = loader().load(plugin("Steps")) { stage, path in
            told.append((stage, path, FileManager.default.fileExists(atPath: marker)))
        }
        guard case .loaded = result else {
            Issue.record("did not load: \(result)")
            return
        }
        let path = library.resolvingSymlinksInPath().path
        #expect(told.map(\.0) == [.checks, .constructor, .entry, .descriptor, .`init`, .done])
        #expect(told.allSatisfy { $0.1 == path }, "\(told)")
        // The constructor step is told before dlopen runs the constructor, the next one after.
        #expect(told.first { $0.0 == .constructor }?.constructed == false)
        #expect(told.first { $0.0 == .entry }?.constructed == true)
    }

    @Test func aFileRefusedByTheHostsChecksRunsNoPluginStep() throws {
        try "not a library".write(to: directory.appendingPathComponent("libText.so"), atomically: true, encoding: .utf8)
        var told: [PluginLoadStage] = []
        _ = refusal(loader().load(plugin("Text")) { stage, _ in told.append(stage) })
        #expect(told == [.checks, .done])
        told = []
        _ = refusal(loader().load(plugin("Missing")) { stage, _ in told.append(stage) })
        #expect(told == [.done], "a plugin with no file has no checks to run")
    }

    /// The words a refusal uses when the process loading a plugin ended or was killed in each step.
    @Test func aLoadingProcessThatEndedIsToldByStepAndHow() {
        func reason(_ stage: PluginLoadStage, _ end: PluginRefusal.ProcessEnd) -> PluginRefusal {
            .loadingEnded(plugin: "Bad", path: "/plugins/libBad.so", stage: stage, end: end)
        }
        let hung = reason(.`init`, .hung(limit: .seconds(5)))
        #expect(hung.check == .hung)
        #expect(hung.description.hasPrefix("plugin 'Bad' (/plugins/libBad.so): hang check failed: init did not return within 5s"))
        #expect(reason(.entry, .crashed(signal: "SIGSEGV")).description
            == "plugin 'Bad' (/plugins/libBad.so): crash check failed: the entry function crashed the loading process (SIGSEGV)")
        let exited = reason(.`init`, .exited(status: 0))
        #expect(exited.check == .exited)
        #expect(exited.reason.hasPrefix("init exited the process (exit status 0)"))
        #expect(reason(.constructor, .exited(status: 3)).reason.hasPrefix("a constructor of the library (run by dlopen) exited the process (exit status 3)"))
        #expect(reason(.constructor, .hung(limit: .milliseconds(1500))).reason.hasPrefix("a constructor of the library (run by dlopen) did not return within 1s500ms"))
        #expect(reason(.`init`, .crashed(signal: "SIGABRT")).reason.contains("(SIGABRT: abort(), a failed assertion or an uncaught C++ exception)"))
        #expect(reason(.descriptor, .crashed(signal: "SIGSEGV")).reason.hasPrefix("reading the descriptor the entry function returned crashed"))
        // Outside the plugin's code, the refusal says so rather than blame a step of it.
        #expect(reason(.checks, .crashed(signal: "SIGBUS")).reason.contains("before any code of the plugin ran"))
        #expect(reason(.checks, .hung(limit: .seconds(5))).reason.contains("the host's checks of the file did not finish within 5s"))
        #expect(reason(.done, .exited(status: 1)).reason.contains("after the plugin had loaded"))
    }

    // MARK: Symlinks

    @Test func symlinksAreFollowedBeforeAnyOtherCheck() throws {
        let good = try CPluginSource(name: "good", handlerNames: ["good.run"]).build(as: "Good", in: directory)
        try link("libZero.so", to: "/dev/zero")
        try link("libNull.so", to: "/dev/null")
        try link("libDir.so", to: "/")
        try link("libLoop.so", to: "libLoop2.so")
        try link("libLoop2.so", to: "libLoop.so")
        try link("libSelf.so", to: "libSelf.so")
        try link("libDangling.so", to: "gone/libGone.so")
        try link("libHop.so", to: "libZero.so")
        #expect(mkfifo(directory.appendingPathComponent("fifo").path, 0o644) == 0)
        try link("libFifoLink.so", to: "fifo")
        // A link beside a good plugin: loads, and the plugin's path is the file's, not the link's.
        let real = directory.appendingPathComponent("real")
        try FileManager.default.createDirectory(at: real, withIntermediateDirectories: false)
        try CPluginSource(name: "linked", handlerNames: ["linked.run"]).build(as: "Real", in: real)
        try link("libLinked.so", to: "real/libReal.so")

        let loader = loader()
        let results = Dictionary(uniqueKeysWithValues: loader.load(
            ["Zero", "Null", "Dir", "Loop", "Self", "Dangling", "Hop", "FifoLink", "Good", "Linked"].map { plugin($0) }
                + [plugin("ZeroByPath", path: directory.appendingPathComponent("libZero.so"))]
        ).map { ($0.name, $0) })
        let dir = directory.path
        func expectRefused(_ name: String, _ check: PluginRefusal.Check, _ reason: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
            guard let refused = results[name].flatMap({ refusal($0, sourceLocation: sourceLocation) }) else { return }
            #expect(refused.check == check, "\(refused)", sourceLocation: sourceLocation)
            #expect(refused.reason == reason, sourceLocation: sourceLocation)
            #expect(refused.path != nil, "names the file: \(refused)", sourceLocation: sourceLocation)
            #expect(!refused.reason.contains("chmod"), "no mode advice for what is not a plugin file", sourceLocation: sourceLocation)
        }
        expectRefused("Zero", .notRegularFile, "not a regular file: \(dir)/libZero.so is a symlink to /dev/zero, a character device")
        expectRefused("ZeroByPath", .notRegularFile, "not a regular file: \(dir)/libZero.so is a symlink to /dev/zero, a character device")
        expectRefused("Null", .notRegularFile, "not a regular file: \(dir)/libNull.so is a symlink to /dev/null, a character device")
        expectRefused("Dir", .notRegularFile, "not a regular file: \(dir)/libDir.so is a symlink to /, a directory")
        expectRefused("Loop", .notRegularFile, "not a regular file: \(dir)/libLoop.so is a symlink loop")
        expectRefused("Self", .notRegularFile, "not a regular file: \(dir)/libSelf.so is a symlink loop")
        expectRefused("Dangling", .notFound, "\(dir)/libDangling.so is a symlink to \(dir)/gone/libGone.so, which does not exist")
        expectRefused("Hop", .notRegularFile, "not a regular file: \(dir)/libHop.so is a symlink to /dev/zero, a character device")
        expectRefused("FifoLink", .notRegularFile, "not a regular file: \(dir)/libFifoLink.so is a symlink to \(dir)/fifo, a FIFO")

        guard case .loaded(let linked) = results["Linked"], case .loaded(let plain) = results["Good"] else {
            Issue.record("the good plugins did not load beside the bad links: \(results)")
            return
        }
        #expect(linked.path == real.appendingPathComponent("libReal.so").resolvingSymlinksInPath().path)
        #expect(plain.path == good.resolvingSymlinksInPath().path)
    }

    /// Whoever may write in the directory holding a link can point it at another library.
    @Test func aLinkInAGroupWritableDirectoryIsRefused() throws {
        let shared = directory.appendingPathComponent("shared")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: false)
        let target = try CPluginSource(name: "target", handlerNames: ["target.run"]).build(as: "Target", in: directory)
        try FileManager.default.createSymbolicLink(atPath: shared.appendingPathComponent("libVia.so").path, withDestinationPath: target.path)
        chmod(shared.path, 0o775)
        let refused = try #require(refusal(PluginLoader(searchPaths: [shared], logger: logger).load(plugin("Via"))))
        #expect(refused.check == .permissions)
        #expect(refused.reason.contains("directory \(shared.path) is writable by group or others (mode 775)"), "\(refused)")
        #expect(refused.reason.contains("it holds a symlink on the way to the plugin"))
    }

    // MARK: Names

    @Test(arguments: [
        ("plugin", #"bad\nname"#, PluginRefusal.Check.descriptor, #"the descriptor's name contains a control character (U+000A): "bad\nname""#),
        ("plugin", #"bad\x7fname"#, .descriptor, "the descriptor's name contains a control character (U+007F)"),
        ("plugin", #"bad\xffname"#, .descriptor, #"the descriptor's name is not valid UTF-8 (byte 0xff at offset 3 of 8): "bad\xffname""#),
        ("handler", #"ctl.bad\tname"#, .handlerName, #"the name of handler #1 contains a control character (U+0009): "ctl.bad\tname""#),
        ("handler", #"ctl.cut\xc3"#, .handlerName, "the name of handler #1 is not valid UTF-8 (byte 0xc3 at offset 7 of 8)"),
    ])
    func aNameWithAControlCharacterOrBrokenUTF8IsRefusedNamingTheField(field: String, name: String, check: PluginRefusal.Check, reason: String) throws {
        let source = field == "plugin"
            ? CPluginSource(name: name, handlerNames: ["ctl.run"]) : CPluginSource(name: "ctl", handlerNames: [name])
        try source.build(as: "Ctl", in: directory)
        let refused = try #require(refusal(loader().load(plugin("Ctl"))))
        #expect(refused.check == check)
        #expect(refused.reason.hasPrefix(reason), "\(refused)")
        #expect(!refused.description.contains("\n") && !refused.description.contains("\t"), "one line: \(refused)")
    }

    // MARK: dlopen's words

    @Test func dlopenFailuresAreToldOnceWithoutTheRepeatedPath() throws {
        let path = "/plugins/libX.so"
        #expect(PluginLoader.explainDlopenFailure("\(path): invalid ELF header", path: path) == "invalid ELF header")
        let missing = PluginLoader.explainDlopenFailure(
            "libdep.so.1: cannot open shared object file: No such file or directory", path: path)
        #expect(missing.hasPrefix("a library it depends on is missing: libdep.so.1 (cannot open shared object file: No such file or directory)"))
        #expect(missing.contains("-Wl,-rpath,'$ORIGIN'"))
        #expect(!missing.contains("LD_LIBRARY_PATH"))
        let undefined = PluginLoader.explainDlopenFailure("\(path): undefined symbol: nowhere_to_be_found", path: path)
        #expect(undefined.hasPrefix("it needs a symbol nothing provides (undefined symbol: nowhere_to_be_found)"))
        #expect(!undefined.contains(path))
    }

    @Test func anUndefinedSymbolIsNamedOnce() throws {
        try CPluginSource(
            name: "needs", handlerNames: ["needs.run"], entryBody: "nowhere_to_be_found();", prelude: "extern void nowhere_to_be_found(void);"
        ).build(as: "Needs", in: directory)
        let refused = try #require(refusal(loader().load(plugin("Needs"))))
        #expect(refused.check == .dlopen)
        #expect(refused.reason.hasPrefix("it needs a symbol nothing provides (undefined symbol: nowhere_to_be_found)"), "\(refused)")
        #expect(refused.description.components(separatedBy: refused.path ?? "-").count == 2, "the path once: \(refused)")
        #expect(!refused.description.contains("dlopen: dlopen"))
    }
}

import Foundation

/// The C source of a small plugin, with the knobs the hostile corpus turns: what its descriptor
/// says, and what its constructor, entry function and `init` do before they return (if they do).
public struct CPluginSource: Sendable {
    public var name = "cplugin"
    public var abiMajor = "JH_ABI_MAJOR"
    public var descriptorSize = "sizeof(jh_plugin_descriptor)"
    public var handlerSize = "sizeof(jh_handler_def)"
    public var handlerNames = ["cplugin.run"]
    /// The body of `init`; nil: the descriptor has no `init`.
    public var initBody: String?
    /// The body of a function marked `__attribute__((constructor))`: it runs inside `dlopen`.
    public var constructorBody: String?
    /// Statements the entry function runs before it returns the descriptor.
    public var entryBody: String?
    /// Declarations at the top of the file (extern functions another object defines, for example).
    public var prelude = ""
    public var returnsNull = false
    public var exportsEntry = true

    public init(
        name: String = "cplugin", abiMajor: String = "JH_ABI_MAJOR", descriptorSize: String = "sizeof(jh_plugin_descriptor)",
        handlerSize: String = "sizeof(jh_handler_def)", handlerNames: [String] = ["cplugin.run"], initBody: String? = nil,
        constructorBody: String? = nil, entryBody: String? = nil, prelude: String = "", returnsNull: Bool = false,
        exportsEntry: Bool = true
    ) {
        self.name = name
        self.abiMajor = abiMajor
        self.descriptorSize = descriptorSize
        self.handlerSize = handlerSize
        self.handlerNames = handlerNames
        self.initBody = initBody
        self.constructorBody = constructorBody
        self.entryBody = entryBody
        self.prelude = prelude
        self.returnsNull = returnsNull
        self.exportsEntry = exportsEntry
    }

    public var text: String {
        let handlers = handlerNames.map { #"{.name = "\#($0)", .description = "a test handler", .run = run}"# }
        return """
            #include <signal.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <unistd.h>
            #include "jobhost.h"
            \(prelude)
            static int32_t run(const jh_host *host, jh_context *ctx, const jh_job *job, void *data) {
                (void)host; (void)ctx; (void)job; (void)data; return JH_SUCCESS;
            }
            \(constructorBody.map { "__attribute__((constructor)) static void hostile_constructor(void) { \($0) }" } ?? "")
            \(initBody.map { "static int32_t init(const jh_host *host, const char *json, size_t len, char *err, size_t cap) { (void)host; (void)json; (void)len; (void)err; (void)cap; \($0) }" } ?? "")
            static const jh_handler_def handlers[] = { \(handlers.joined(separator: ", ")) };
            static const jh_plugin_descriptor descriptor = {
                .abi_major = \(abiMajor), .abi_minor = JH_ABI_MINOR,
                .descriptor_size = \(descriptorSize), .handler_size = \(handlerSize),
                .name = "\(name)", .version = "0.0.1", .description = "built by a test",
                .handlers = handlers, .handler_count = \(handlerNames.count),
                \(initBody == nil ? "" : ".init = init,")
            };
            \(exportsEntry ? "JH_EXPORT const jh_plugin_descriptor *jh_plugin_entry(void)" : "JH_EXPORT const jh_plugin_descriptor *some_other_function(void)") {
                \(entryBody ?? "")
                return \(returnsNull ? "NULL" : "&descriptor");
            }
            """
    }

    /// Compiles it into `dir/lib<file>.so`.
    @discardableResult
    public func build(as file: String, in dir: URL, extraFlags: [String] = []) throws -> URL {
        try compileSharedLibrary(
            source: text, name: file, in: dir,
            extraFlags: ["-I", BuildProducts.abiIncludeDirectory.path] + extraFlags)
    }

    /// What a hostile plugin does at the step it misbehaves in, as C statements.
    public enum Misdeed: String, Sendable, CaseIterable {
        /// Never returns (waits for a signal that never comes, using no CPU).
        case hang
        /// Writes through a null pointer the compiler cannot see: SIGSEGV.
        case segfault
        /// `exit(3)`.
        case exit3
        /// `exit(0)`: the process ends "successfully" in the middle of loading.
        case exit0

        public var statements: String {
            switch self {
            case .hang: "for (;;) pause();"
            case .segfault: "int *volatile nowhere = 0; *nowhere = 1;"
            case .exit3: "exit(3);"
            case .exit0: "exit(0);"
            }
        }
    }

    /// The steps of loading in which a plugin's own code runs.
    public enum Step: String, Sendable, CaseIterable {
        case constructor, entry, `init`
    }

    /// A plugin that does `misdeed` in `step`; otherwise a well-formed plugin named `name`.
    public static func misbehaving(_ misdeed: Misdeed, in step: Step, name: String) -> CPluginSource {
        var source = CPluginSource(name: name, handlerNames: ["\(name).run"])
        switch step {
        case .constructor: source.constructorBody = misdeed.statements
        case .entry: source.entryBody = misdeed.statements
        case .`init`: source.initBody = misdeed.statements + " return JH_OK;"
        }
        return source
    }
}

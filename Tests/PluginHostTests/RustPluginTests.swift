import Foundation
import HostConfig
import JobHostTesting
import Logging
import Testing

@testable import PluginHost

/// The Rust plugin (`Plugins/RustHello`): its hand-written ABI structs match the C header's, and the
/// loader loads it and calls its handlers like any other plugin's.
@Suite(.serialized)
struct RustPluginTests {
    /// A C program built against jobhost.h that loads the Rust library, asks it for the sizes and
    /// offsets it compiled (`jh_rust_layout`) and compares them with its own, one line per mismatch.
    static let layoutCheck = #"""
        #include <dlfcn.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include "jobhost.h"

        typedef struct { const char *name; uint64_t value; } entry;
        #define SIZE(type) {#type ".size", sizeof(type)}
        #define FIELD(type, field) {#type "." #field, offsetof(type, field)}
        #define ENDS_WITH(type, field) _Static_assert(offsetof(type, field) + sizeof(((type *)0)->field) == sizeof(type), \
            #type " has a field after " #field ": list it here and declare it in Plugins/RustHello/src/abi.rs")

        ENDS_WITH(jh_job, enqueued_at_unix_ms);
        ENDS_WITH(jh_enqueue_request, unique_key);
        ENDS_WITH(jh_handler_def, handler_data);
        ENDS_WITH(jh_plugin_descriptor, shutdown);

        static const entry header[] = {
            SIZE(jh_job), FIELD(jh_job, struct_size), FIELD(jh_job, attempt), FIELD(jh_job, max_attempts),
            FIELD(jh_job, reserved), FIELD(jh_job, id), FIELD(jh_job, handler), FIELD(jh_job, queue),
            FIELD(jh_job, payload), FIELD(jh_job, payload_len), FIELD(jh_job, deadline_unix_ms),
            FIELD(jh_job, enqueued_at_unix_ms),
            SIZE(jh_enqueue_request), FIELD(jh_enqueue_request, struct_size), FIELD(jh_enqueue_request, max_attempts),
            FIELD(jh_enqueue_request, handler), FIELD(jh_enqueue_request, payload), FIELD(jh_enqueue_request, payload_len),
            FIELD(jh_enqueue_request, queue), FIELD(jh_enqueue_request, delay_ms), FIELD(jh_enqueue_request, unique_key),
            FIELD(jh_host, struct_size), FIELD(jh_host, abi_major), FIELD(jh_host, abi_minor), FIELD(jh_host, reserved),
            FIELD(jh_host, log), FIELD(jh_host, is_cancelled), FIELD(jh_host, enqueue), FIELD(jh_host, heartbeat),
            FIELD(jh_host, set_error), FIELD(jh_host, set_retry_delay),
            FIELD(jh_host, set_result), SIZE(jh_host),
            SIZE(jh_handler_def), FIELD(jh_handler_def, name), FIELD(jh_handler_def, description),
            FIELD(jh_handler_def, default_timeout_ms), FIELD(jh_handler_def, reserved), FIELD(jh_handler_def, run),
            FIELD(jh_handler_def, handler_data),
            SIZE(jh_plugin_descriptor), FIELD(jh_plugin_descriptor, abi_major), FIELD(jh_plugin_descriptor, abi_minor),
            FIELD(jh_plugin_descriptor, descriptor_size), FIELD(jh_plugin_descriptor, handler_size),
            FIELD(jh_plugin_descriptor, name), FIELD(jh_plugin_descriptor, version), FIELD(jh_plugin_descriptor, description),
            FIELD(jh_plugin_descriptor, handlers), FIELD(jh_plugin_descriptor, handler_count),
            FIELD(jh_plugin_descriptor, reserved), FIELD(jh_plugin_descriptor, init), FIELD(jh_plugin_descriptor, shutdown),
        };
        ENDS_WITH(jh_host, set_result);

        int main(int argc, char **argv) {
            if (argc != 2) return 2;
            void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
            if (!library) { printf("dlopen: %s\n", dlerror()); return 2; }
            size_t (*layout)(entry *, size_t) = (size_t (*)(entry *, size_t))dlsym(library, "jh_rust_layout");
            if (!layout) { printf("no jh_rust_layout in %s\n", argv[1]); return 2; }
            size_t count = layout(NULL, 0);
            entry *rust = calloc(count, sizeof *rust);
            layout(rust, count);
            size_t total = sizeof header / sizeof header[0];
            int problems = 0;
            for (size_t i = 0; i < total; i++) {
                size_t j = 0;
                while (j < count && strcmp(rust[j].name, header[i].name) != 0) j++;
                if (j == count) { printf("%s: not declared in Rust\n", header[i].name); problems++; }
                else if (rust[j].value != header[i].value) {
                    printf("%s: %llu in C, %llu in Rust\n", header[i].name,
                           (unsigned long long)header[i].value, (unsigned long long)rust[j].value);
                    problems++;
                }
            }
            for (size_t j = 0; j < count; j++) {
                size_t i = 0;
                while (i < total && strcmp(rust[j].name, header[i].name) != 0) i++;
                if (i == total) { printf("%s: declared in Rust, not in the header\n", rust[j].name); problems++; }
            }
            printf("compared %zu\n", total);
            return problems == 0 ? 0 : 1;
        }
        """#

    @Test func theRustStructsMatchTheHeader() throws {
        let library = try RustPlugin.library()
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        let program = try compileC(
            source: Self.layoutCheck, name: "rust_layout", output: "rust_layout", in: directory.url,
            flags: ["-std=c11", "-Wall", "-Werror", "-I", BuildProducts.abiIncludeDirectory.path, "-ldl"])
        let output = try ChildProcess.run(program.path, [library.path])
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
        // Every size and offset of the five structs was compared, none skipped.
        #expect(output.stdout.hasSuffix("compared 53\n"), "\(output.stdout)")
    }

    func load(config: String = "{}") throws -> (PluginLoadResult, HandlerRegistry) {
        let loader = PluginLoader(searchPaths: [], logger: Logger(label: "test"))
        let plugin = PluginConfig(
            name: "RustHello", path: try RustPlugin.library(), configJSON: config, location: .init(file: "test.yaml", line: 1, column: 1))
        return (loader.load(plugin), loader.registry)
    }

    func run(
        _ handler: String, _ payload: String, registry: HandlerRegistry, logs: LogCapture = LogCapture(), cancelAfter: Duration? = nil
    ) throws -> HandlerOutcome {
        let registered = try #require(registry[handler])
        let job = JobInvocation(id: "01RUST", handler: handler, queue: "default", attempt: 2, maxAttempts: 5, payload: Data(payload.utf8))
        let context = InvocationContext(job: job, plugin: registered.plugin, logger: logs.logger, enqueuer: RefusingEnqueuer(reason: "no backend"))
        if let cancelAfter {
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: Double(cancelAfter.components.seconds) + Double(cancelAfter.components.attoseconds) / 1e18)
                context.cancel()
            }
        }
        return registered.invoke(context)
    }

    @Test func theLoaderLoadsItAndItsHandlersRun() throws {
        let (result, registry) = try load(config: #"{"greeting": "Ahoy"}"#)
        guard case .loaded(let plugin) = result else {
            Issue.record("not loaded: \(result)")
            return
        }
        #expect(plugin.declaredName == "rust-hello")
        #expect(plugin.abiVersion == "1.1")
        #expect(plugin.handlers.map(\.name) == ["rust.hello", "rust.sum"])
        #expect(plugin.handlers[1].defaultTimeout == .seconds(5))

        let logs = LogCapture()
        #expect(try run("rust.hello", #"{"name": "Ada"}"#, registry: registry, logs: logs) == .success)
        #expect(logs.lines.map(\.message) == ["Ahoy, Ada! (job 01RUST, attempt 2)"])
        #expect(logs.lines.first?.metadata["plugin"] == "RustHello")

        let sums = LogCapture()
        #expect(try run("rust.sum", "[1, 2.5, -0.5]", registry: registry, logs: sums) == .success)
        #expect(sums.lines.first?.message == "sum of 3 numbers: 3")

        #expect(try run("rust.sum", #"[1, "two"]"#, registry: registry) == .discard(reason: "payload[1]: expected a number, found a string"))
        #expect(try run("rust.sum", #"{"numbers": [1]}"#, registry: registry)
            == .discard(reason: "payload: expected an array of numbers such as [1, 2.5], found an object"))
        #expect(try run("rust.sum", "[1,", registry: registry) == .discard(reason: "payload: not valid JSON at byte 3: unexpected end"))
        #expect(try run("rust.hello", "{}", registry: registry) == .discard(reason: #"payload.name: missing; send {"name": "Ada"}"#))
    }

    @Test func aCancelledHandlerStopsAndAsksForARetry() throws {
        let (_, registry) = try load()
        // Not cancelled, it would greet for 100 seconds.
        let outcome = try run("rust.hello", #"{"name": "Ada", "times": 10000, "pause_ms": 10}"#, registry: registry, cancelAfter: .milliseconds(50))
        guard case .retry(let reason, nil) = outcome else {
            Issue.record("expected a retry, got \(outcome)")
            return
        }
        #expect(reason.hasPrefix("cancelled after ") && reason.hasSuffix(" of 10000 greetings"), "\(reason)")
    }

    @Test func badConfigKeysRefuseThePluginNamingEachKey() throws {
        let (result, _) = try load(config: #"{"greting": "Hi", "greeting": 3}"#)
        guard case .refused(let refusal) = result else {
            Issue.record("loaded despite a bad config")
            return
        }
        #expect(refusal.check == .initFailed)
        #expect(refusal.reason == """
            config.greting: unknown key; this plugin reads only 'greeting'
            config.greeting: expected a non-empty string, found a number
            """)
    }
}

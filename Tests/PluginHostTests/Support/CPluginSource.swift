import Foundation
import JobHostTesting

/// The C source of a small plugin, with the knobs the hostile corpus turns.
struct CPluginSource {
    var name = "cplugin"
    var abiMajor = "JH_ABI_MAJOR"
    var descriptorSize = "sizeof(jh_plugin_descriptor)"
    var handlerSize = "sizeof(jh_handler_def)"
    var handlerNames = ["cplugin.run"]
    var initBody: String?
    var returnsNull = false
    var exportsEntry = true

    var text: String {
        let handlers = handlerNames.map { #"{.name = "\#($0)", .description = "a test handler", .run = run}"# }
        return """
            #include <stdio.h>
            #include "jobhost.h"
            static int32_t run(const jh_host *host, jh_context *ctx, const jh_job *job, void *data) {
                (void)host; (void)ctx; (void)job; (void)data; return JH_SUCCESS;
            }
            \(initBody.map { "static int32_t init(const jh_host *host, const char *json, size_t len, char *err, size_t cap) { (void)host; (void)json; (void)len; \($0) }" } ?? "")
            static const jh_handler_def handlers[] = { \(handlers.joined(separator: ", ")) };
            static const jh_plugin_descriptor descriptor = {
                .abi_major = \(abiMajor), .abi_minor = JH_ABI_MINOR,
                .descriptor_size = \(descriptorSize), .handler_size = \(handlerSize),
                .name = "\(name)", .version = "0.0.1", .description = "built by a test",
                .handlers = handlers, .handler_count = \(handlerNames.count),
                \(initBody == nil ? "" : ".init = init,")
            };
            \(exportsEntry ? "JH_EXPORT const jh_plugin_descriptor *jh_plugin_entry(void)" : "JH_EXPORT const jh_plugin_descriptor *some_other_function(void)") {
                return \(returnsNull ? "NULL" : "&descriptor");
            }
            """
    }

    /// Compiles it into `dir/lib<file>.so`.
    @discardableResult
    func build(as file: String, in dir: URL, extraFlags: [String] = []) throws -> URL {
        try compileSharedLibrary(
            source: text, name: file, in: dir,
            extraFlags: ["-I", BuildProducts.abiIncludeDirectory.path] + extraFlags)
    }
}

import PluginKit
import Synchronization

struct Greeting: Decodable {
    let name: String
}

/// The plugin's config block: every key it takes, so a misspelt one is refused at its line.
struct Settings: Decodable {
    /// "Hello" when left out.
    var salutation: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case salutation
    }
}

let settings = Mutex(Settings())

let plugin = Plugin(
    name: "greeter",
    version: "1.0.0",
    description: "Greets people; the smallest plugin, in Swift",
    handlers: [
        Handler("greeter.hello", description: "Logs a greeting for {\"name\": …}", timeout: .seconds(5)) { job, host in
            let greeting = try job.decode(Greeting.self)  // a payload that does not decode discards the job
            guard !greeting.name.isEmpty else { return .discard("name is empty") }
            let salutation = settings.withLock { $0.salutation } ?? "Hello"
            host.log(.info, "\(salutation), \(greeting.name)!")
            return .success
        },
    ],
    onInit: { config, host in
        let parsed = try config.decode(Settings.self)  // an unknown key or a wrong type refuses the plugin, at its line
        settings.withLock { $0 = parsed }
    }
)

@_cdecl("jh_plugin_entry") public func entry() -> UnsafeRawPointer { plugin.entry }

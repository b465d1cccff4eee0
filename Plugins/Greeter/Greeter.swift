import PluginKit
import Synchronization

struct Greeting: Decodable {
    let name: String
}

struct Settings: Decodable {
    var salutation: String?
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
        let parsed = try config.decode(Settings.self)  // throwing refuses the plugin with the reason
        settings.withLock { $0 = parsed }
    }
)

@_cdecl("jh_plugin_entry") public func entry() -> UnsafeRawPointer { plugin.entry }

import Foundation

extension SectionParser {
    /// `admin: { listen: "127.0.0.1:9090", token_env: NAME, open_reads: false, dashboard: true }`.
    func parseAdmin(_ entry: NodeReader.Entry?) -> AdminSettings? {
        guard let entry else { return nil }
        var settings = AdminSettings()
        guard let fields = reader.fields(
                of: entry.value, at: entry.path, anchor: entry.keyNode, allowed: ["listen", "token_env", "open_reads", "dashboard"], section: "admin")
        else { return settings }
        if let listen = fields.string("listen") {
            if let (host, port) = Self.address(listen) {
                settings.host = host
                settings.port = port
            } else {
                reader.report(
                    fields.entry("listen")?.value, entry.path.appending("listen"),
                    "expected an IP address and a port, e.g. 127.0.0.1:9090 or [::1]:9090, found '\(listen)'")
            }
        }
        if let name = fields.string("token_env") {
            if name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }), !(name.first?.isNumber ?? true) {
                settings.tokenEnv = name
            } else {
                reader.report(
                    fields.entry("token_env")?.value, entry.path.appending("token_env"),
                    "expected the name of an environment variable (letters, digits, _), found '\(name)'; the token itself never goes in the file")
            }
        }
        if let open = fields.bool("open_reads") { settings.openReads = open }
        if let dashboard = fields.bool("dashboard") { settings.dashboard = dashboard }
        return settings
    }

    /// `HOST:PORT` with an IPv4 address, or `[V6]:PORT`; port 0 lets the system choose.
    static func address(_ text: String) -> (String, Int)? {
        let host: Substring, port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
            guard host.contains(":") else { return nil }
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            (host, port) = (parts[0], parts[1])
            let octets = host.split(separator: ".", omittingEmptySubsequences: false)
            guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else { return nil }
        }
        guard let number = Int(port), (0...65535).contains(number) else { return nil }
        return (String(host), number)
    }
}

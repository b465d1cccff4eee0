internal import JobHostABI
import HostConfig
#if canImport(Glibc)
import Glibc
#endif

/// Reads a plugin's descriptor defensively: the version and sizes first, then only the fields those
/// sizes cover, with every string and count bounded.
struct DescriptorReader {
    struct Descriptor {
        let name: String
        let version: String
        let description: String
        let abiVersion: String
        let handlers: [Handler]
        let initialize: jh_init_fn?
        let shutdown: jh_shutdown_fn?
    }

    struct Handler {
        let info: HandlerInfo
        let run: jh_handler_fn
        let data: UnsafeMutableRawPointer?
    }

    static let maximumDescriptorSize: UInt32 = 64 * 1024
    static let maximumHandlerSize: UInt32 = 4 * 1024
    static let maximumHandlers: UInt32 = 10_000

    static func read(
        _ pointer: UnsafeRawPointer, refuse: (PluginRefusal.Check, String) -> PluginRefusal
    ) throws(PluginRefusal) -> Descriptor {
        // Unsafe 1: the first three fields exist in every ABI version; nothing else is read until
        // descriptor_size says it is there.
        let major = pointer.load(fromByteOffset: 0, as: UInt32.self)
        let minor = pointer.load(fromByteOffset: 4, as: UInt32.self)
        let size = pointer.load(fromByteOffset: 8, as: UInt32.self)
        guard major == UInt32(JH_ABI_MAJOR) else {
            throw refuse(.abiVersion,
                "the plugin was built for ABI major version \(major) (abi_major), this host speaks \(JH_ABI_MAJOR); rebuild it against this host's jobhost.h")
        }
        guard size >= JH_DESCRIPTOR_SIZE_1_0, size <= maximumDescriptorSize else {
            throw refuse(.descriptor,
                "descriptor_size is \(size) bytes, expected \(JH_DESCRIPTOR_SIZE_1_0) to \(maximumDescriptorSize); was the descriptor filled with JH_DESCRIPTOR_HEADER?")
        }
        guard Int(bitPattern: pointer) % MemoryLayout<jh_plugin_descriptor>.alignment == 0 else {
            throw refuse(.descriptor, "the descriptor is not aligned to \(MemoryLayout<jh_plugin_descriptor>.alignment) bytes")
        }
        let raw = loadPrefix(jh_plugin_descriptor.self, from: pointer, size: Int(size))
        guard raw.handler_size >= JH_HANDLER_SIZE_1_0, raw.handler_size <= maximumHandlerSize,
            Int(raw.handler_size) % MemoryLayout<jh_handler_def>.alignment == 0
        else {
            throw refuse(.descriptor,
                "handler_size is \(raw.handler_size) bytes, expected a multiple of \(MemoryLayout<jh_handler_def>.alignment) from \(JH_HANDLER_SIZE_1_0) to \(maximumHandlerSize)")
        }
        guard let nameBytes = boundedBytes(raw.name), !nameBytes.isEmpty else {
            throw refuse(.descriptor, "the descriptor has no name")
        }
        let name: String
        switch checkedName(nameBytes) {
        case .success(let checked): name = checked
        case .failure(let problem): throw refuse(.descriptor, "the descriptor's name \(problem)")
        }
        guard name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_" || $0 == "-") }) else {
            throw refuse(.descriptor, "the plugin calls itself '\(name)'; a plugin name uses lower-case letters, digits, _ and -")
        }
        guard raw.handler_count <= maximumHandlers else {
            throw refuse(.descriptor, "handler_count is \(raw.handler_count), more than the \(maximumHandlers) a plugin may offer")
        }
        guard raw.handler_count == 0 || raw.handlers != nil else {
            throw refuse(.descriptor, "handler_count is \(raw.handler_count) but handlers is NULL")
        }
        if let handlers = raw.handlers, Int(bitPattern: handlers) % MemoryLayout<jh_handler_def>.alignment != 0 {
            throw refuse(.descriptor, "the handler array is not aligned to \(MemoryLayout<jh_handler_def>.alignment) bytes")
        }
        var handlers: [Handler] = []
        var seen = Set<String>()
        for index in 0..<Int(raw.handler_count) {
            // Unsafe 2: handlers are handler_size apart, which may exceed what this host knows.
            let definition = loadPrefix(
                jh_handler_def.self, from: UnsafeRawPointer(raw.handlers!).advanced(by: index * Int(raw.handler_size)),
                size: Int(raw.handler_size))
            guard let handlerNameBytes = boundedBytes(definition.name) else {
                throw refuse(.handlerName, "handler #\(index + 1) has no name")
            }
            let handlerName: String
            switch checkedName(handlerNameBytes) {
            case .success(let checked): handlerName = checked
            case .failure(let problem): throw refuse(.handlerName, "the name of handler #\(index + 1) \(problem)")
            }
            guard HandlerName.isValid(handlerName) else {
                throw refuse(.handlerName,
                    "handler '\(handlerName)' is not a valid name; write family.action in lower-case letters, digits, _ and -")
            }
            guard seen.insert(handlerName).inserted else {
                throw refuse(.duplicateHandler, "the plugin declares handler '\(handlerName)' twice")
            }
            guard let run = definition.run else {
                throw refuse(.descriptor, "handler '\(handlerName)' has no run function")
            }
            let timeout = definition.default_timeout_ms > 0 ? Duration.milliseconds(Int64(definition.default_timeout_ms)) : nil
            handlers.append(Handler(
                info: HandlerInfo(name: handlerName, description: boundedString(definition.description) ?? "", defaultTimeout: timeout),
                run: run, data: definition.handler_data))
        }
        return Descriptor(
            name: name, version: boundedString(raw.version) ?? "", description: boundedString(raw.description) ?? "",
            abiVersion: "\(major).\(minor)", handlers: handlers, initialize: raw.`init`, shutdown: raw.shutdown)
    }

    /// The struct as this host knows it, filled from the first `size` bytes the plugin provides: a
    /// plugin built for an older minor has a smaller struct, whose missing tail reads as zero (NULL).
    private static func loadPrefix<T>(_ type: T.Type, from pointer: UnsafeRawPointer, size: Int) -> T {
        let value = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.size, alignment: MemoryLayout<T>.alignment)
        defer { value.deallocate() }
        value.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.size)
        value.copyMemory(from: pointer, byteCount: min(size, MemoryLayout<T>.size))
        return value.load(as: T.self)
    }

    /// The longest plugin or handler name taken. Longer ones are refused, not cut.
    static let maximumNameLength = 255

    /// A name's length for a refusal: a string read to the 4 KiB bound may go on (or lack its terminator).
    private static func lengthText(_ count: Int) -> String {
        count >= stringBound ? "\(stringBound) bytes or more (or not terminated)" : "\(count) bytes"
    }

    /// A plugin or handler name as declared, or the end of a sentence about what is wrong with it
    /// (after "the descriptor's name" or "the name of handler #N"). Names are refused, never
    /// repaired: a cut or cleaned name would register something the plugin never declared, and a
    /// control character in a name could forge lines in tables and logs.
    static func checkedName(_ bytes: [UInt8]) -> Result<String, NameProblem> {
        guard bytes.count <= maximumNameLength else {
            return .failure(NameProblem("is \(lengthText(bytes.count)), longer than the \(maximumNameLength) bytes a name may have"))
        }
        guard let name = String(validating: bytes, as: UTF8.self) else {
            let offset = firstInvalidUTF8Offset(bytes)
            return .failure(NameProblem(
                "is not valid UTF-8 (byte 0x\(String(bytes[offset], radix: 16)) at offset \(offset) of \(bytes.count)): \(printable(bytes))"))
        }
        if let control = name.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
            return .failure(NameProblem(
                "contains a control character (U+\(hex4(control.value))): \(name.debugDescription)"))
        }
        return .success(name)
    }

    /// The end of a sentence about a bad name.
    struct NameProblem: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The offset of the first byte that is not part of a valid UTF-8 sequence.
    private static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int {
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .error: return offset
            case .emptyInput: return max(0, bytes.count - 1)
            }
        }
    }

    /// Bytes as text fit for one line: ASCII shown as itself, everything else as \xNN.
    private static func printable(_ bytes: [UInt8]) -> String {
        "\"" + bytes.map { (0x20..<0x7F).contains($0) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\")
            ? String(UnicodeScalar($0)) : "\\x" + (($0 < 0x10 ? "0" : "") + String($0, radix: 16)) }.joined() + "\""
    }

    /// How far a plugin's string is read at most.
    static let stringBound = 4096

    /// Unsafe 3: a plugin's string may lack its terminator; read at most 4 KiB of it.
    private static func boundedBytes(_ pointer: UnsafePointer<CChar>?) -> [UInt8]? {
        guard let pointer else { return nil }
        let length = strnlen(pointer, stringBound)
        return [UInt8](UnsafeRawBufferPointer(start: pointer, count: length))
    }

    /// A plugin's free text (version, description). Control characters become spaces so that no
    /// plugin text can forge lines in tables or logs; bytes that are not UTF-8 become U+FFFD.
    private static func boundedString(_ pointer: UnsafePointer<CChar>?) -> String? {
        guard let bytes = boundedBytes(pointer) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }
}

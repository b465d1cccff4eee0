#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a plugin file says about itself, learned without running any of its code.
///
/// Only 64-bit, host-order, `ET_DYN` files for the host's machine come back as facts,
/// so class, byte order and type need no fields of their own.
package struct ELFFacts: Sendable, Equatable {
    /// The machine the file was built for, by its usual name ("x86_64").
    package var machine: String
    package var entrySymbol: SymbolPresence

    package init(machine: String, entrySymbol: SymbolPresence) {
        self.machine = machine
        self.entrySymbol = entrySymbol
    }
}

/// Whether the dynamic symbol table defines a global function of the asked-for name.
package enum SymbolPresence: Sendable, Equatable {
    case defined
    case missing
    /// No section headers or no dynamic symbol section (`sstrip` removes them; the dynamic
    /// loader never needs them), so only `dlsym` can tell.
    case unknown
}

/// Why a file must not be handed to `dlopen`, as one lower-case sentence for an operator.
package struct ELFRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    package let description: String

    package init(_ description: String) {
        self.description = description
    }
}

/// Checks a plugin file before `dlopen` maps it and runs its constructors.
///
/// `dlopen` reports most bad files as errors, but not all: a file whose loadable segment
/// runs past its end is mapped anyway and the process dies of SIGBUS on first touch, and a
/// FIFO blocks `open` forever. Reading the headers ourselves turns those into refusals and
/// gives clearer messages for the rest. The input is treated as hostile: every offset and
/// size from the file is checked for overflow and against the file size before use, and no
/// read is larger than the file or ``tableLimit``.
package enum ELFInspector {
    /// Symbol and string tables larger than this are refused rather than read; real plugins
    /// are far below it, and it bounds what a lying header can make us allocate.
    static let tableLimit = 64 << 20

    package static func inspect(path: String, symbol: String) -> Result<ELFFacts, ELFRefusal> {
        Result { () throws(ELFRefusal) in try check(path: path, symbol: symbol) }
    }

    private static func check(path: String, symbol: String) throws(ELFRefusal) -> ELFFacts {
        // dlopen searches the library path for a name without a slash, so the file checked
        // here could differ from the file loaded.
        guard path.hasPrefix("/") else { throw ELFRefusal("not an absolute path") }
        let file = try OpenFile(path: path)
        guard file.size > 0 else { throw ELFRefusal("empty file") }

        let header = Record(bytes: try file.read(at: 0, count: min(file.size, Layout.headerSize)), start: 0)
        try checkIdentification(header.bytes, fileSize: file.size)
        guard file.size >= Layout.headerSize else { throw ELFRefusal("file too short to be ELF (\(file.size) bytes)") }

        let type = header.u16(16)
        guard type == Layout.typeShared else { throw ELFRefusal("not a shared library (ELF type \(typeName(type)))") }
        let machine = header.u16(18)
        guard machine == hostMachine else {
            throw ELFRefusal("built for \(machineName(machine)), this host is \(machineName(hostMachine))")
        }

        try checkLoadableSegments(file, header: header)
        return ELFFacts(machine: machineName(machine), entrySymbol: try lookUp(symbol, in: file, header: header))
    }

    /// Checks `e_ident`, which has the same layout for every class, so a 32-bit file is named
    /// as such even when it is shorter than a 64-bit header.
    private static func checkIdentification(_ ident: [UInt8], fileSize: Int) throws(ELFRefusal) {
        let magic = Layout.magic
        guard ident.starts(with: magic) else {
            if magic.starts(with: ident) { throw ELFRefusal("file too short to be ELF (\(fileSize) bytes)") }
            throw ELFRefusal("not an ELF file (it starts with \(describeLeadingBytes(ident)))")
        }
        guard ident.count >= Layout.identSize else { throw ELFRefusal("file too short to be ELF (\(fileSize) bytes)") }
        switch ident[4] {
        case 2: break
        case 1: throw ELFRefusal("wrong ELF class: 32-bit, this host is 64-bit")
        case let other: throw ELFRefusal("corrupt ELF header: unknown class \(other)")
        }
        switch ident[5] {
        case 1: break
        case 2: throw ELFRefusal("wrong byte order: big-endian, this host is little-endian")
        case let other: throw ELFRefusal("corrupt ELF header: unknown byte order \(other)")
        }
    }

    /// Text files (a shell script saved as `libx.so`) are shown as text, anything else in hex.
    private static func describeLeadingBytes(_ bytes: [UInt8]) -> String {
        let text = bytes.prefix(16).prefix { (0x20...0x7E).contains($0) }
        if !text.isEmpty { return String(decoding: text, as: UTF8.self).debugDescription }
        let hex = bytes.prefix(8).map { ($0 < 0x10 ? "0" : "") + String($0, radix: 16) }
        return "bytes " + hex.joined(separator: " ")
    }

    /// glibc maps each `PT_LOAD` segment with `mmap` without comparing it to the file size, so
    /// a truncated file would load "successfully" and then kill the host with SIGBUS.
    private static func checkLoadableSegments(_ file: borrowing OpenFile, header: Record) throws(ELFRefusal) {
        let offset = header.u64(32)
        let entrySize = header.u16(54)
        let count = header.u16(56)
        guard count > 0 else { throw ELFRefusal("no loadable segments") }
        guard entrySize == Layout.programHeaderSize else {
            throw ELFRefusal(
                "corrupt ELF header: program header entry size is \(entrySize), expected \(Layout.programHeaderSize)")
        }
        let table = try file.readTable(at: offset, count: UInt64(count) * UInt64(entrySize), "the program header table")

        var loadable = 0
        for index in 0..<Int(count) {
            let segment = Record(bytes: table, start: index * Int(entrySize))
            guard segment.u32(0) == Layout.loadableSegment else { continue }
            loadable += 1
            try file.requireInside(offset: segment.u64(8), count: segment.u64(32), "a loadable segment")
        }
        guard loadable > 0 else { throw ELFRefusal("no loadable segments") }
    }

    /// Looks the symbol up the way `dlsym` would find it: a defined, exported function.
    ///
    /// Section headers are not used by the dynamic loader, so their absence is not a fault,
    /// but when present they must be consistent: a file lying about them is not loaded.
    private static func lookUp(_ symbol: String, in file: borrowing OpenFile, header: Record) throws(ELFRefusal)
        -> SymbolPresence
    {
        let offset = header.u64(40)
        let entrySize = header.u16(58)
        let count = header.u16(60)
        // A zero count with a nonzero offset means more than 0xff00 sections, counted in
        // section 0; no plugin has that many, and dlsym can still decide.
        guard offset != 0, count != 0 else { return .unknown }
        guard entrySize == Layout.sectionHeaderSize else {
            throw ELFRefusal(
                "corrupt ELF header: section header entry size is \(entrySize), expected \(Layout.sectionHeaderSize)")
        }
        let table = try file.readTable(at: offset, count: UInt64(count) * UInt64(entrySize), "the section header table")
        let sections = (0..<Int(count)).map { Record(bytes: table, start: $0 * Int(entrySize)) }

        guard let symbolSection = sections.first(where: { $0.u32(4) == Layout.dynamicSymbolSection }) else {
            return .unknown
        }
        guard symbolSection.u64(56) == UInt64(Layout.symbolSize) else {
            throw ELFRefusal(
                "corrupt section table: dynamic symbol entry size is \(symbolSection.u64(56)), expected \(Layout.symbolSize)"
            )
        }
        let link = symbolSection.u32(40)
        guard link < count, sections[Int(link)].u32(4) == Layout.stringTableSection else {
            throw ELFRefusal("corrupt section table: the dynamic symbol table does not link to a string table")
        }
        let stringSection = sections[Int(link)]
        let symbols = try file.readTable(
            at: symbolSection.u64(24), count: symbolSection.u64(32), "the dynamic symbol table")
        let strings = try file.readTable(
            at: stringSection.u64(24), count: stringSection.u64(32), "the dynamic string table")

        let wanted = Array(symbol.utf8)
        for index in 0..<(symbols.count / Layout.symbolSize) {
            let entry = Record(bytes: symbols, start: index * Layout.symbolSize)
            if isExportedFunction(entry), names(entry.u32(0), in: strings, equal: wanted) { return .defined }
        }
        return .missing
    }

    /// A data object of the right name is not accepted: calling it would jump into data.
    /// Hidden and internal symbols can sit in `.dynsym` but `dlsym` does not return them.
    private static func isExportedFunction(_ entry: Record) -> Bool {
        let info = entry.u8(4)
        let binding = info >> 4
        let type = info & 0xF
        let visibility = entry.u8(5) & 0x3
        return entry.u16(6) != Layout.undefinedSection
            && (binding == Layout.bindGlobal || binding == Layout.bindWeak)
            && (type == Layout.typeFunction || type == Layout.typeIndirectFunction)
            && (visibility == Layout.visibilityDefault || visibility == Layout.visibilityProtected)
    }

    /// Compares a NUL-terminated name in the string table without trusting its offset.
    private static func names(_ offset: UInt32, in strings: [UInt8], equal wanted: [UInt8]) -> Bool {
        let start = Int(offset)
        guard start < strings.count, strings.count - start > wanted.count else { return false }
        return strings[start + wanted.count] == 0 && strings[start..<(start + wanted.count)].elementsEqual(wanted)
    }

    private static func typeName(_ type: UInt16) -> String {
        switch type {
        case 0: "NONE"
        case 1: "REL"
        case 2: "EXEC"
        case 3: "DYN"
        case 4: "CORE"
        default: "\(type)"
        }
    }

    static func machineName(_ machine: UInt16) -> String {
        switch machine {
        case 3: "i386"
        case 40: "arm"
        case 62: "x86_64"
        case 183: "aarch64"
        case 243: "riscv"
        default: "machine \(machine)"
        }
    }

    // Every host listed is little-endian, which `Record` relies on.
    #if arch(x86_64)
    static let hostMachine: UInt16 = 62
    #elseif arch(arm64)
    static let hostMachine: UInt16 = 183
    #elseif arch(riscv64)
    static let hostMachine: UInt16 = 243
    #else
    #error("ELFInspector does not know this host's ELF machine number")
    #endif
}

// Nested so that these names cannot clash with other files of the module.
extension ELFInspector {
    /// Offsets, sizes and constants of the ELF64 format (see `<elf.h>`).
    private enum Layout {
        static let magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]
        static let identSize = 16
        static let headerSize = 64
        static let programHeaderSize: UInt16 = 56
        static let sectionHeaderSize: UInt16 = 64
        static let symbolSize = 24
        static let typeShared: UInt16 = 3
        static let loadableSegment: UInt32 = 1
        static let stringTableSection: UInt32 = 3
        static let dynamicSymbolSection: UInt32 = 11
        static let undefinedSection: UInt16 = 0
        static let bindGlobal: UInt8 = 1
        static let bindWeak: UInt8 = 2
        static let typeFunction: UInt8 = 2
        static let typeIndirectFunction: UInt8 = 10
        static let visibilityDefault: UInt8 = 0
        static let visibilityProtected: UInt8 = 3
    }

    /// A fixed-size ELF record inside bytes already read. Little-endian, because only
    /// little-endian files get past the identification check. Callers only make records whose
    /// whole extent lies inside `bytes`, so field reads stay in bounds.
    private struct Record {
        let bytes: [UInt8]
        let start: Int

        func u8(_ field: Int) -> UInt8 { bytes[start + field] }
        func u16(_ field: Int) -> UInt16 { decode(field) }
        func u32(_ field: Int) -> UInt32 { decode(field) }
        func u64(_ field: Int) -> UInt64 { decode(field) }

        private func decode<T: FixedWidthInteger & UnsignedInteger>(_ field: Int) -> T {
            (0..<(T.bitWidth / 8)).reversed().reduce(0) { $0 << 8 | T(bytes[start + field + $1]) }
        }
    }

    /// An open, regular plugin file and the size it had when opened.
    private struct OpenFile: ~Copyable {
        let descriptor: Int32
        let size: Int

        init(path: String) throws(ELFRefusal) {
            // Checked before opening: opening a FIFO for reading blocks until a writer appears.
            var status = stat()
            guard stat(path, &status) == 0 else { throw Self.cannotRead(errno) }
            try Self.requireRegular(status)

            // O_NONBLOCK because the path may have been replaced by a FIFO since the stat.
            let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            guard descriptor >= 0 else { throw Self.cannotRead(errno) }
            // fstat describes the file actually opened, whatever the path names by now.
            guard fstat(descriptor, &status) == 0 else {
                let code = errno
                close(descriptor)
                throw Self.cannotRead(code)
            }
            do {
                try Self.requireRegular(status)
            } catch {
                close(descriptor)
                throw error
            }
            self.descriptor = descriptor
            self.size = Int(status.st_size)
        }

        deinit {
            close(descriptor)
        }

        /// Refuses unless `count` bytes at `offset` lie inside the file. An offset already past
        /// the end is corruption; a range that merely runs past it is most likely a cut-off copy.
        func requireInside(offset: UInt64, count: UInt64, _ what: String) throws(ELFRefusal) {
            guard offset <= UInt64(size) else {
                throw ELFRefusal(
                    "corrupt ELF: \(what) starts at byte \(offset), past the end of the file (\(size) bytes)")
            }
            let (end, overflow) = offset.addingReportingOverflow(count)
            guard !overflow else { throw ELFRefusal("corrupt ELF: \(what) claims \(count) bytes") }
            guard end <= UInt64(size) else {
                throw ELFRefusal("truncated: \(what) ends at byte \(end) but the file has \(size) bytes")
            }
        }

        /// Reads a table whose position and size come from the file.
        func readTable(at offset: UInt64, count: UInt64, _ what: String) throws(ELFRefusal) -> [UInt8] {
            guard count <= UInt64(tableLimit) else {
                throw ELFRefusal(
                    "corrupt ELF: \(what) claims \(count) bytes, more than the \(tableLimit >> 20) MiB allowed"
                )
            }
            try requireInside(offset: offset, count: count, what)
            // Both fit in Int: requireInside bounded them by the file size.
            return try read(at: Int(offset), count: Int(count))
        }

        /// Reads exactly `count` bytes at `offset`, a range the caller has checked lies inside the file.
        func read(at offset: Int, count: Int) throws(ELFRefusal) -> [UInt8] {
            var failure: ELFRefusal?
            let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                while initialized < count {
                    // Unsafe 1: `buffer` has room for `count` bytes and the loop runs only while
                    // `initialized < count`, so the base address exists (count > 0) and pread
                    // writes at most the `count - initialized` bytes still unwritten.
                    // Unsafe 2: `initialized` only grows by what pread reports it wrote, so the
                    // array never exposes bytes that were not written.
                    let got = pread(
                        descriptor, buffer.baseAddress! + initialized, count - initialized, off_t(offset + initialized))
                    if got > 0 {
                        initialized += got
                    } else if got < 0, errno == EINTR {
                        continue
                    } else {
                        failure = got == 0 ? ELFRefusal("file shrank while it was being read") : Self.cannotRead(errno)
                        return
                    }
                }
            }
            if let failure { throw failure }
            return bytes
        }

        private static func cannotRead(_ code: Int32) -> ELFRefusal {
            ELFRefusal("cannot read: \(String(cString: strerror(code)))")
        }

        private static func requireRegular(_ status: stat) throws(ELFRefusal) {
            let kind: String
            switch status.st_mode & S_IFMT {
            case S_IFREG: return
            case S_IFDIR: kind = "a directory"
            case S_IFIFO: kind = "a FIFO"
            case S_IFSOCK: kind = "a socket"
            case S_IFCHR: kind = "a character device"
            case S_IFBLK: kind = "a block device"
            default: kind = "of unknown type"
            }
            throw ELFRefusal("not a regular file (it is \(kind))")
        }
    }
}

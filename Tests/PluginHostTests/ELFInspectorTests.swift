#if os(Linux)
import Foundation
import JobHostTesting
import Testing
@testable import PluginHost

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@Suite("ELFInspector")
struct ELFInspectorTests {
    static let entry = "jh_plugin_entry"

    #if arch(x86_64)
    static let hostMachine = "x86_64"
    static let foreignMachine: (number: UInt16, name: String) = (183, "aarch64")
    #elseif arch(arm64)
    static let hostMachine = "aarch64"
    static let foreignMachine: (number: UInt16, name: String) = (62, "x86_64")
    #elseif arch(riscv64)
    static let hostMachine = "riscv"
    static let foreignMachine: (number: UInt16, name: String) = (62, "x86_64")
    #endif

    /// Large read-only data pushes the library's later loadable segments well past the first
    /// page, which the truncation test needs.
    static let pluginSource = """
        const unsigned char jh_padding[32768] = { 1 };
        int jh_plugin_entry(void) { return jh_padding[0]; }
        """

    // MARK: Symbols

    @Test func sharedLibraryDefiningTheEntryIsAccepted() throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            #expect(inspect(library) == .success(ELFFacts(machine: Self.hostMachine, entrySymbol: .defined)))
        }
    }

    @Test func sharedLibraryWithoutTheEntryReportsItMissing() throws {
        try expectSymbol(.missing, source: "int some_other_function(void) { return 1; }")
    }

    @Test func longerNameStartingWithTheEntryIsNotTheEntry() throws {
        try expectSymbol(.missing, source: "int jh_plugin_entry_v2(void) { return 1; }")
    }

    @Test func dataObjectNamedLikeTheEntryIsNotAFunction() throws {
        try expectSymbol(.missing, source: "int jh_plugin_entry = 1;")
    }

    @Test func undefinedReferenceIsNotADefinition() throws {
        try expectSymbol(
            .missing,
            source: """
                extern int jh_plugin_entry(void);
                int call_it(void) { return jh_plugin_entry(); }
                """)
    }

    @Test func hiddenEntryIsNotExported() throws {
        try expectSymbol(
            .missing,
            source: """
                __attribute__((visibility("hidden"))) int jh_plugin_entry(void) { return 1; }
                int keep_it(void) { return jh_plugin_entry(); }
                """)
    }

    @Test func weakEntryCounts() throws {
        try expectSymbol(.defined, source: "__attribute__((weak)) int jh_plugin_entry(void) { return 1; }")
    }

    @Test func strippingKeepsTheDynamicSymbolTable() throws {
        try expectSymbol(.defined, source: Self.pluginSource, flags: ["-s"])
    }

    @Test func symbolIsUnknownWithoutSectionHeaders() throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            // What sstrip does: the loader needs none of it.
            let stripped = try patchedCopy(of: library, named: "libsstripped.so") { bytes in
                bytes.storeLittleEndian(UInt64(0), at: 40)
                bytes.storeLittleEndian(UInt16(0), at: 60)
                bytes.storeLittleEndian(UInt16(0), at: 62)
            }
            #expect(inspect(stripped) == .success(ELFFacts(machine: Self.hostMachine, entrySymbol: .unknown)))
        }
    }

    // MARK: ELF type

    @Test func relocatableObjectIsRefused() throws {
        try withScratchDirectory { dir in
            let object = try compileC(
                source: Self.pluginSource, name: "plugin", output: "plugin.o", in: dir, flags: ["-c", "-fPIC"])
            #expect(refusal(object) == "not a shared library (ELF type REL)")
        }
    }

    @Test func positionDependentExecutableIsRefused() throws {
        try withScratchDirectory { dir in
            let program = try compileC(
                source: Self.programSource, name: "main", output: "program", in: dir, flags: ["-no-pie"])
            #expect(refusal(program) == "not a shared library (ELF type EXEC)")
        }
    }

    static let programSource = """
        int jh_plugin_entry(void) { return 0; }
        int main(void) { return jh_plugin_entry(); }
        """

    /// A PIE is `ET_DYN` like a library, so the type check lets it through; glibc's dlopen
    /// refuses it ("cannot dynamically load position-independent executable") before running
    /// any of its code. An executable's functions are not in `.dynsym` unless exported.
    @Test func positionIndependentExecutablePassesTheTypeCheck() throws {
        try withScratchDirectory { dir in
            let plain = try compileC(
                source: Self.programSource, name: "main", output: "pie", in: dir, flags: ["-fPIE", "-pie"])
            #expect(inspect(plain) == .success(ELFFacts(machine: Self.hostMachine, entrySymbol: .missing)))

            let exporting = try compileC(
                source: Self.programSource, name: "main", output: "pie-rdynamic", in: dir,
                flags: ["-fPIE", "-pie", "-rdynamic"])
            #expect(inspect(exporting) == .success(ELFFacts(machine: Self.hostMachine, entrySymbol: .defined)))
        }
    }

    // MARK: Not ELF at all

    @Test func shellScriptIsShownAsText() throws {
        try expectRefusal(
            ##"not an ELF file (it starts with "#!/bin/sh")"##, contents: Array("#!/bin/sh\necho hello\n".utf8))
    }

    @Test func longTextIsCutAtSixteenCharacters() throws {
        try expectRefusal(
            #"not an ELF file (it starts with "this is not a li")"#, contents: Array("this is not a library".utf8))
    }

    @Test func binaryIsShownInHex() throws {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D]
        try expectRefusal("not an ELF file (it starts with bytes 89 50 4e 47 0d 0a 1a 0a)", contents: png)
    }

    @Test func emptyFileIsRefused() throws {
        try expectRefusal("empty file", contents: [])
    }

    @Test func startOfTheMagicAloneIsTooShort() throws {
        try expectRefusal("file too short to be ELF (3 bytes)", contents: [0x7F, 0x45, 0x4C])
    }

    @Test func headerCutShortIsTooShort() throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            let cut = try patchedCopy(of: library, named: "libcut.so") { $0.removeLast($0.count - 40) }
            #expect(refusal(cut) == "file too short to be ELF (40 bytes)")
        }
    }

    // MARK: Not a regular file

    @Test(.timeLimit(.minutes(1)))
    func fifoIsRefusedWithoutBlocking() throws {
        try withScratchDirectory { dir in
            let fifo = dir.appendingPathComponent("libfifo.so")
            try #require(mkfifo(fifo.path, 0o600) == 0)
            // Opening a FIFO blocks until a writer comes: the refusal returning at all shows it was never opened.
            #expect(refusal(fifo) == "not a regular file (it is a FIFO)")
        }
    }

    @Test func directoryIsRefused() throws {
        try withScratchDirectory { dir in
            #expect(refusal(dir) == "not a regular file (it is a directory)")
        }
    }

    @Test func characterDeviceIsRefused() {
        #expect(refusal(URL(fileURLWithPath: "/dev/null")) == "not a regular file (it is a character device)")
    }

    @Test func socketIsRefused() throws {
        try withScratchDirectory { dir in
            let path = dir.appendingPathComponent("libsocket.so").path
            let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            try #require(descriptor >= 0)
            defer { close(descriptor) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let pathBytes = Array(path.utf8)
            try #require(pathBytes.count < MemoryLayout.size(ofValue: address.sun_path))
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            try #require(bound == 0)
            #expect(refusal(URL(fileURLWithPath: path)) == "not a regular file (it is a socket)")
        }
    }

    @Test func missingFileIsRefused() throws {
        try withScratchDirectory { dir in
            #expect(
                refusal(dir.appendingPathComponent("libnothing.so")) == "cannot read: No such file or directory")
        }
    }

    @Test(.enabled(if: geteuid() != 0, "root reads files whatever their mode"))
    func unreadableFileIsRefused() throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: library.path)
            #expect(refusal(library) == "cannot read: Permission denied")
        }
    }

    @Test func relativePathIsRefused() {
        #expect(
            ELFInspector.inspect(path: "libgood.so", symbol: Self.entry)
                == .failure(ELFRefusal("not an absolute path")))
    }

    // MARK: Wrong kind of ELF

    @Test func thirtyTwoBitClassIsRefused() throws {
        try expectPatchRefused("wrong ELF class: 32-bit, this host is 64-bit") { $0[4] = 1 }
    }

    @Test func bigEndianIsRefused() throws {
        try expectPatchRefused("wrong byte order: big-endian, this host is little-endian") { $0[5] = 2 }
    }

    @Test func foreignMachineIsRefused() throws {
        try expectPatchRefused("built for \(Self.foreignMachine.name), this host is \(Self.hostMachine)") {
            $0.storeLittleEndian(Self.foreignMachine.number, at: 18)
        }
    }

    @Test func unknownMachineIsNamedByNumber() throws {
        try expectPatchRefused("built for machine 4242, this host is \(Self.hostMachine)") {
            $0.storeLittleEndian(UInt16(4242), at: 18)
        }
    }

    // MARK: Damaged or lying headers

    @Test func truncatedCopyIsRefusedBeforeItCanCauseSIGBUS() throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            let layout = try ELFLayout(Array(Data(contentsOf: library)))
            let beyond = try #require(
                layout.programHeaders.first { $0.type == 1 && $0.offset + $0.size > 4096 },
                "the test library must have a loadable segment past its first 4096 bytes")
            let truncated = try patchedCopy(of: library, named: "libtruncated.so") {
                $0.removeLast($0.count - 4096)
            }
            #expect(
                refusal(truncated)
                    == "truncated: a loadable segment ends at byte \(beyond.offset + beyond.size) but the file has 4096 bytes"
            )
        }
    }

    @Test func hugeProgramHeaderOffsetIsRefused() throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            let size = try Data(contentsOf: library).count
            let patched = try patchedCopy(of: library, named: "libphoff.so") {
                $0.storeLittleEndian(UInt64.max - 15, at: 32)
            }
            #expect(
                refusal(patched)
                    == "corrupt ELF: the program header table starts at byte \(UInt64.max - 15), past the end of the file (\(size) bytes)"
            )
        }
    }

    @Test func programHeaderTableRunningPastTheEndIsRefused() throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            let bytes = try Array(Data(contentsOf: library))
            let layout = try ELFLayout(bytes)
            let offset = UInt64(bytes.count - 8)
            let patched = try patchedCopy(of: library, named: "libphoff.so") {
                $0.storeLittleEndian(offset, at: 32)
            }
            let end = offset + UInt64(layout.programHeaders.count * 56)
            #expect(
                refusal(patched)
                    == "truncated: the program header table ends at byte \(end) but the file has \(bytes.count) bytes"
            )
        }
    }

    @Test func wrongProgramHeaderEntrySizeIsRefused() throws {
        try expectPatchRefused("corrupt ELF header: program header entry size is 32, expected 56") {
            $0.storeLittleEndian(UInt16(32), at: 54)
        }
    }

    @Test func noProgramHeadersIsRefused() throws {
        try expectPatchRefused("no loadable segments") { $0.storeLittleEndian(UInt16(0), at: 56) }
    }

    @Test func segmentSizeThatOverflowsIsRefused() throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            let layout = try ELFLayout(Array(Data(contentsOf: library)))
            let load = try #require(layout.programHeaders.first { $0.type == 1 && $0.offset > 0 })
            let patched = try patchedCopy(of: library, named: "libfilesz.so") {
                $0.storeLittleEndian(UInt64.max, at: load.headerOffset + 32)
            }
            #expect(refusal(patched) == "corrupt ELF: a loadable segment claims \(UInt64.max) bytes")
        }
    }

    @Test func sectionHeaderTableCutOffIsRefused() throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            let bytes = try Array(Data(contentsOf: library))
            // The section header table is the last thing in the file, after every segment.
            let truncated = try patchedCopy(of: library, named: "libshort.so") { $0.removeLast(1) }
            #expect(
                refusal(truncated)
                    == "truncated: the section header table ends at byte \(bytes.count) but the file has \(bytes.count - 1) bytes"
            )
        }
    }

    @Test func wrongSectionHeaderEntrySizeIsRefused() throws {
        try expectPatchRefused("corrupt ELF header: section header entry size is 40, expected 64") {
            $0.storeLittleEndian(UInt16(40), at: 58)
        }
    }

    @Test func dynamicSymbolTableClaimingTooMuchIsRefused() throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            let layout = try ELFLayout(Array(Data(contentsOf: library)))
            let dynsym = try #require(layout.sectionHeaders.first { $0.type == 11 })
            let patched = try patchedCopy(of: library, named: "libdynsym.so") {
                $0.storeLittleEndian(UInt64(1) << 40, at: dynsym.headerOffset + 32)
            }
            #expect(
                refusal(patched)
                    == "corrupt ELF: the dynamic symbol table claims \(UInt64(1) << 40) bytes, more than the 64 MiB allowed"
            )
        }
    }

    @Test func dynamicSymbolTableLinkedToNonsenseIsRefused() throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            let layout = try ELFLayout(Array(Data(contentsOf: library)))
            let dynsym = try #require(layout.sectionHeaders.first { $0.type == 11 })
            let patched = try patchedCopy(of: library, named: "liblink.so") {
                $0.storeLittleEndian(UInt32(60000), at: dynsym.headerOffset + 40)
            }
            #expect(
                refusal(patched)
                    == "corrupt section table: the dynamic symbol table does not link to a string table")
        }
    }

    /// Mutated copies of a good library aim at the headers and tables the inspector reads;
    /// each must come back as facts or as a one-sentence refusal, never as a crash.
    @Test func mutatedLibrariesNeverCrashTheInspector() throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            let original = try Array(Data(contentsOf: library))
            let layout = try ELFLayout(original)
            let dynsym = try #require(layout.sectionHeaders.first { $0.type == 11 })
            let targets: [Range<Int>] = [
                0..<64,
                layout.programHeaderTable,
                layout.sectionHeaderTable,
                Int(dynsym.offset)..<Int(dynsym.offset + dynsym.size),
                0..<original.count,
            ]
            let mutant = dir.appendingPathComponent("libmutant.so")
            var random = SplitMix64(seed: 0x6A68_706C_7567_696E)
            var accepted = 0
            var refused = 0
            for round in 0..<400 {
                var bytes = original
                for _ in 0..<Int.random(in: 1...6, using: &random) {
                    let target = targets.randomElement(using: &random)!
                    let at = Int.random(in: target, using: &random)
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
                    case 1: bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &random)
                    default:
                        let extreme: UInt64 = [
                            0, .max, .max - 7, UInt64(Int64.max), 1 << 32, UInt64(original.count),
                        ].randomElement(using: &random)!
                        bytes.storeLittleEndian(extreme, at: min(at, bytes.count - 8))
                    }
                }
                if Int.random(in: 0..<10, using: &random) == 0 {
                    bytes.removeLast(Int.random(in: 1..<bytes.count, using: &random))
                }
                try Data(bytes).write(to: mutant)
                switch ELFInspector.inspect(path: mutant.path, symbol: Self.entry) {
                case .success(let facts):
                    accepted += 1
                    #expect(facts.machine == Self.hostMachine, "round \(round)")
                case .failure(let refusal):
                    refused += 1
                    let text = refusal.description
                    #expect(
                        text.first.map { $0.isLowercase } == true && !text.contains("\n"), "round \(round): \(text)"
                    )
                }
            }
            // Both outcomes occur, so the mutations reach past the first checks.
            #expect(accepted > 0)
            #expect(refused > 0)
        }
    }

    // MARK: Helpers

    private func inspect(_ url: URL) -> Result<ELFFacts, ELFRefusal> {
        ELFInspector.inspect(path: url.path, symbol: Self.entry)
    }

    private func refusal(_ url: URL) -> String? {
        guard case .failure(let refusal) = inspect(url) else { return nil }
        return refusal.description
    }

    private func expectSymbol(
        _ presence: SymbolPresence, source: String, flags: [String] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: source, name: "plugin", in: dir, extraFlags: flags)
            #expect(
                inspect(library) == .success(ELFFacts(machine: Self.hostMachine, entrySymbol: presence)),
                sourceLocation: sourceLocation)
        }
    }

    private func expectRefusal(
        _ expected: String, contents: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try withScratchDirectory { dir in
            let file = dir.appendingPathComponent("libx.so")
            try Data(contents).write(to: file)
            #expect(refusal(file) == expected, sourceLocation: sourceLocation)
        }
    }

    private func expectPatchRefused(
        _ expected: String, sourceLocation: SourceLocation = #_sourceLocation, patch: (inout [UInt8]) -> Void
    ) throws {
        try withScratchDirectory { dir in
            let library = try compileSharedLibrary(source: Self.pluginSource, name: "good", in: dir)
            let patched = try patchedCopy(of: library, named: "libpatched.so", patch)
            #expect(refusal(patched) == expected, sourceLocation: sourceLocation)
        }
    }

    private func patchedCopy(of url: URL, named name: String, _ patch: (inout [UInt8]) -> Void) throws -> URL {
        var bytes = try Array(Data(contentsOf: url))
        patch(&bytes)
        let copy = url.deletingLastPathComponent().appendingPathComponent(name)
        try Data(bytes).write(to: copy)
        return copy
    }

    private func withScratchDirectory(_ body: (URL) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ELFInspectorTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try body(dir)
    }
}

// Nested, so these names cannot clash with other test files of the module.
extension ELFInspectorTests {
    /// The test's own reading of a well-formed ELF64 file, to find where to patch.
    fileprivate struct ELFLayout {
        struct Entry {
            let headerOffset: Int
            let type: UInt32
            let offset: UInt64
            let size: UInt64
        }

        let programHeaders: [Entry]
        let sectionHeaders: [Entry]
        let programHeaderTable: Range<Int>
        let sectionHeaderTable: Range<Int>

        init(_ bytes: [UInt8]) throws {
            let phoff = Int(bytes.littleEndian(UInt64.self, at: 32))
            let phnum = Int(bytes.littleEndian(UInt16.self, at: 56))
            let shoff = Int(bytes.littleEndian(UInt64.self, at: 40))
            let shnum = Int(bytes.littleEndian(UInt16.self, at: 60))
            programHeaderTable = phoff..<(phoff + phnum * 56)
            sectionHeaderTable = shoff..<(shoff + shnum * 64)
            try #require(
                programHeaderTable.upperBound <= bytes.count && sectionHeaderTable.upperBound <= bytes.count)
            programHeaders = stride(from: phoff, to: programHeaderTable.upperBound, by: 56).map {
                Entry(
                    headerOffset: $0, type: bytes.littleEndian(at: $0), offset: bytes.littleEndian(at: $0 + 8),
                    size: bytes.littleEndian(at: $0 + 32))
            }
            sectionHeaders = stride(from: shoff, to: sectionHeaderTable.upperBound, by: 64).map {
                Entry(
                    headerOffset: $0, type: bytes.littleEndian(at: $0 + 4), offset: bytes.littleEndian(at: $0 + 24),
                    size: bytes.littleEndian(at: $0 + 32))
            }
        }
    }

    /// A seeded generator, so a failing fuzz round can be replayed.
    fileprivate struct SplitMix64: RandomNumberGenerator {
        var state: UInt64

        init(seed: UInt64) { state = seed }

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}

extension [UInt8] {
    fileprivate func littleEndian<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self, at offset: Int) -> T {
        (0..<(T.bitWidth / 8)).reversed().reduce(0) { $0 << 8 | T(self[offset + $1]) }
    }

    fileprivate mutating func storeLittleEndian<T: FixedWidthInteger & UnsignedInteger>(_ value: T, at offset: Int) {
        for index in 0..<(T.bitWidth / 8) {
            self[offset + index] = UInt8(truncatingIfNeeded: value >> (index * 8))
        }
    }
}
#endif

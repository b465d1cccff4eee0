import HostCLI

@main
enum Host {
    static func main() async {
        await HostCommand.main()
    }
}

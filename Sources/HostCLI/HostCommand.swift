import ArgumentParser

/// `host`: the jobhost command line.
public struct HostCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "Runs jobs from Redis, PostgreSQL or a SQLite file on handlers that plugins provide.",
        discussion: """
            The host reads one YAML file (config/host.yaml unless --config or JOBHOST_CONFIG says otherwise), \
            loads the plugins it names (lib<Name>.so) and routes jobs to their handlers.

            Before a restart, check the config:  host check-config
            See what the plugins offer:           host list-plugins --handlers
            Try one handler, with no backend:     host try greeter.hello '{"name": "Ada"}'
            Run the host:                         host run
            Add a job:                            host enqueue greeter.hello '{"name": "Ada"}'
            See the queues:                       host queues
            See the routes SQL producers get:     host routes
            """,
        subcommands: [RunCommand.self, EnqueueCommand.self, QueuesCommand.self, JobsCommand.self, SchedulesCommand.self, RoutesCommand.self, TriggerCommand.self, MigrateCommand.self, CheckConfigCommand.self, ListPluginsCommand.self, TryCommand.self, WorkerCommand.self]
    )

    public init() {}
}

extension Migration {
    /// What a handler reported it produced (ABI 1.1's `set_result`), kept with the done job; how far it
    /// said it got and its status note (heartbeat), while it runs.
    static let results = Migration(version: 7, name: "results_and_progress") { schema in
        """
        -- All nullable without a default: added in the catalog only, no row rewritten.
        ALTER TABLE \(schema.quoted).jobs ADD COLUMN result text;
        ALTER TABLE \(schema.quoted).jobs ADD COLUMN progress double precision;
        ALTER TABLE \(schema.quoted).jobs ADD COLUMN note text;
        """
    }
}

extension Migration {
    /// What a handler reported it produced (ABI 1.1's `set_result`), kept with the done job.
    static let results = Migration(version: 7, name: "results") { schema in
        """
        -- JSON text, NULL when the handler set none. Nullable without a default: added in the catalog
        -- only, no row rewritten.
        ALTER TABLE \(schema.quoted).jobs ADD COLUMN result text;
        """
    }
}

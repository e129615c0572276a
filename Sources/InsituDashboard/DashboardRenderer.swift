import Mustache

/// Renders the dashboard's pages: each page's view model through its template. Every template
/// is parsed once, when the renderer is made; a template that does not parse is a programming
/// error caught by the unit tests, so `init` traps rather than serve a broken page.
public struct DashboardRenderer: Sendable {
    private let library: MustacheLibrary

    /// Every template by the name partials use for it.
    static let templates: [(name: String, text: String)] = [
        ("header", Layout.header), ("footer", Layout.footer),
        ("nodes", NodesPage.template), ("nodes-live", NodesPage.liveTemplate),
        ("node", NodePage.template), ("node-live", NodePage.liveTemplate),
        ("jobs", JobsPage.template), ("jobs-live", JobsPage.liveTemplate),
        ("job", JobPage.template), ("job-live", JobPage.liveTemplate),
        ("logs", JobLogsPage.template), ("logs-live", JobLogsPage.liveTemplate), ("log-entries", JobLogsPage.entriesTemplate),
        ("login", LoginPage.template), ("error", ErrorPage.template),
    ]

    public init() {
        var library = MustacheLibrary()
        for (name, text) in Self.templates {
            do {
                try library.register(text, named: name)
            } catch {
                preconditionFailure("dashboard template \(name) does not parse: \(error)")
            }
        }
        self.library = library
    }

    /// A whole page, or with `liveOnly` the section the script re-fetches.
    public func render(_ page: NodesPage, liveOnly: Bool = false) -> String { render(page, liveOnly ? "nodes-live" : "nodes") }
    public func render(_ page: NodePage, liveOnly: Bool = false) -> String { render(page, liveOnly ? "node-live" : "node") }
    public func render(_ page: JobsPage, liveOnly: Bool = false) -> String { render(page, liveOnly ? "jobs-live" : "jobs") }
    public func render(_ page: JobPage, liveOnly: Bool = false) -> String { render(page, liveOnly ? "job-live" : "job") }
    public func render(_ page: JobLogsPage, liveOnly: Bool = false) -> String { render(page, liveOnly ? "logs-live" : "logs") }
    public func render(_ page: LoginPage) -> String { render(page, "login") }
    public func render(_ page: ErrorPage) -> String { render(page, "error") }

    private func render(_ object: Any, _ template: String) -> String {
        guard let html = library.render(object, withTemplate: template) else {
            preconditionFailure("dashboard template \(template) is not registered")
        }
        return html
    }
}

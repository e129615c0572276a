/// A page that says what went wrong: a missing job, a refused scope, a bad request.
public struct ErrorPage: Sendable {
    var title: String
    var chrome: DashboardChrome
    var status: Int
    var message: String

    public init(status: Int, title: String, message: String, chrome: DashboardChrome) {
        self.title = title
        self.chrome = chrome
        self.status = status
        self.message = message
    }

    static let template = """
        {{>header}}
        <h1>{{title}}</h1>
        <p class="subtitle">HTTP {{status}}</p>
        <div class="alert">{{message}}</div>
        <p><a href="/ui/jobs">Back to the jobs</a></p>
        {{>footer}}
        """
}

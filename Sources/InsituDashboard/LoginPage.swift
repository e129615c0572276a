/// `/ui/login`: where a person pastes an API token when the orchestrator requires tokens.
public struct LoginPage: Sendable {
    var title = "Sign in"
    var chrome: DashboardChrome
    /// Why the last attempt was refused, or why the session ended.
    var problem: String?

    public init(problem: String?, chrome: DashboardChrome) {
        self.chrome = chrome
        self.problem = problem
    }

    static let template = """
        {{>header}}
        <form class="login" method="post" action="/ui/login">
          <h1>Sign in</h1>
          <p class="muted">This orchestrator requires an API token. Paste one with the scope <code>job:read</code> (jobs, logs and
          results) and <code>node:read</code> (nodes); an administrator creates one with <code>insitu token create</code>.</p>
          {{#problem}}<div class="alert" role="alert">{{.}}</div>{{/problem}}
          <label for="token">API token</label>
          <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required placeholder="insitu_…">
          <button type="submit">Sign in</button>
        </form>
        {{>footer}}
        """
}

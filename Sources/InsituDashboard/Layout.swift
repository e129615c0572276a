/// The partials every page starts and ends with. Every value in them is escaped by Mustache's
/// `{{name}}`; no template of the dashboard uses the unescaped `{{{name}}}`.
enum Layout {
    static let header = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Insitu</title>
        <link rel="stylesheet" href="/ui/app.css">
        <script src="/ui/app.js" defer></script>
        </head>
        <body>
        <header class="top">
          <a class="brand" href="/ui/jobs">Insitu</a>
          {{#chrome}}
          <nav>
            <a href="/ui/jobs"{{#jobsActive}} aria-current="page"{{/jobsActive}}>Jobs</a>
            <a href="/ui/nodes"{{#nodesActive}} aria-current="page"{{/nodesActive}}>Nodes</a>
          </nav>
          <div class="who">
            {{#development}}<span class="chip warn" title="started with --dev: no authentication">development mode</span>{{/development}}
            {{#signedInAs}}<span class="muted">{{.}}</span>
            <form method="post" action="/ui/logout"><button type="submit" class="link">Sign out</button></form>{{/signedInAs}}
          </div>
          {{/chrome}}
        </header>
        <main>
        """

    static let footer = """
        </main>
        <footer>Insitu {{chrome.version}} · read-only dashboard · times in UTC</footer>
        </body>
        </html>
        """
}

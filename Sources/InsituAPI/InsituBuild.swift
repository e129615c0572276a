/// This build of Insitu, as clients and servers report it (`insitu version`, `GET /v1/health`).
public enum InsituBuild {
    public static let version = "0.1.0"
}

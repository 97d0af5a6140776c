// LocalStack always starts DynamoDB Local with
// `-javaagent:<its dir>/ddb-local-loader-0.1.jar`, an agent it downloads from
// GitHub to lift DynamoDB Local's limit of 20 global secondary indexes. The lab
// needs no such index (DynamoDB only holds LocalStack's own KCL lease table),
// and GitHub is out of reach here, so `cargo xtask localstack up --host` builds
// this agent, which does nothing, under that name.
public final class NoopAgent {
    public static void premain(String arguments) {
    }
}

"""LocalStack's Lambda without Docker, for `osls deploy` into LocalStack on the host (scripts/localstack-host.sh).

Pinned to localstack-core 4.14.0 (scripts/localstack-host.sh, LOCALSTACK_VERSION): loopback.py applies it when the
services include lambda, and it refuses to run on any other version, whose internals may differ.

LocalStack creates a function by preparing its runtime: it downloads its Lambda runtime-init binary and pulls the
runtime's Docker image (DockerRuntimeExecutor.prepare_version). With no Docker engine that fails, the function ends
in state Failed, and CloudFormation rolls the stack back. This makes that one step a no-op, so functions reach Active
and the stack completes; invoking a function through LocalStack then fails, which the "as deployed" tier never does:
it runs the deployed zips under the AWS Lambda Runtime Interface Emulator itself (docs/deploy.md, "What CI proves").
Nothing else of LocalStack changes: CloudFormation, IAM, S3, SQS, SSM and API Gateway are LocalStack's own.
"""
import importlib.metadata

PINNED = "4.14.0"


def apply() -> None:
    installed = importlib.metadata.version("localstack-core")
    if installed != PINNED:
        raise SystemExit(
            f"localstack/lambda_without_runtime.py was written for localstack-core {PINNED}, not {installed}: "
            "check that DockerRuntimeExecutor.prepare_version still is the step that downloads the runtime, then "
            "update PINNED"
        )
    from localstack.services.lambda_.invocation.docker_runtime_executor import DockerRuntimeExecutor

    def prepare_version(cls, function_version) -> None:
        """No runtime download, no image pull: nothing will run inside LocalStack."""

    DockerRuntimeExecutor.prepare_version = classmethod(prepare_version)

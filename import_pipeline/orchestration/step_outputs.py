"""The IO manager of the import job: small step outputs kept in the Dagster instance.

What travels between the import's steps is tiny: a batch id from the plan step to each
batch step, a few counts from each batch step to the finalise step, and nothing from
the finalise step (the asset's data is in the database). Everything else a step needs it
reads from PostgreSQL. Dagster's default IO manager pickles outputs to files under the
launching machine's `DAGSTER_HOME`, which a worker on another machine cannot read; this
one stores each output as JSON in the instance's key-value table, in the same storage as
the run's event log, which every worker already shares (dagster-postgres). So steps may
run on any machine with no object store.

An output must be JSON (str, numbers, lists, dicts) of at most `MAX_OUTPUT_BYTES`: a big
value is a design mistake here, refused at once rather than stored.
"""

import json
from typing import Any

from dagster import ConfigurableIOManager, Failure, InputContext, OutputContext

MAX_OUTPUT_BYTES = 64 * 1024
KEY_PREFIX = "import_pipeline/step_output"


def output_key(identifier: list[str]) -> str:
    """The key-value entry of one step output: run id, step key, output name, mapping key."""
    return "/".join([KEY_PREFIX, *identifier])


class InstanceStepOutputs(ConfigurableIOManager):
    """Keeps small JSON step outputs in the Dagster instance, readable from any worker."""

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        """Store `obj` as JSON under the output's run, step, name and mapping key."""
        text = json.dumps(obj)
        if len(text.encode()) > MAX_OUTPUT_BYTES:
            raise Failure(
                description=f"output {context.name} of step {context.step_key} is "
                f"{len(text):,} characters of JSON; step outputs must stay ids and counts",
                allow_retries=False,
            )
        instance = context.step_context.instance
        instance.daemon_cursor_storage.set_cursor_values(
            {output_key(list(context.get_identifier())): text}
        )

    def load_input(self, context: InputContext) -> Any:
        """The upstream output, from the run that produced it (a parent run on re-execution)."""
        upstream = context.upstream_output
        if upstream is None:
            raise Failure(description=f"input {context.name} has no upstream output")
        key = output_key(list(upstream.get_identifier()))
        text = context.instance.daemon_cursor_storage.get_cursor_values({key}).get(key)
        if text is None:
            raise Failure(
                description=f"no stored value for {key}: was the upstream step run on "
                "another Dagster instance?",
                allow_retries=False,
            )
        return json.loads(text)

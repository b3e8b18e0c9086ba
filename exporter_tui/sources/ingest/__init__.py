"""Readings from files: SenML JSON (RFC 8428), SenML or readers-field CSV, JSON lines.

`FileReader(stream, name, format, Defaults(...))` yields batches: a frame of READING_COLUMNS
for the valid records and a Refusal (where, why) for each invalid one. It only parses; the
`ingest` command writes the frames into the embedded source.

Names: a SenML record's name is its base name and name joined (`bn` + `n`), as the Mainflux
and Magistrala SenML transformer stores it; channel, subtopic and publisher, which a SenML
payload does not carry (the platform adds them from the topic and the sender), come from
the record's own `channel`/`subtopic`/`publisher` fields or else from the command's options.
"""

from exporter_tui.sources.ingest.inputs import BATCH_RECORDS, FORMATS, Batch, FileReader, detect_format
from exporter_tui.sources.ingest.refusals import MAX_KEPT, SHOWN, FileInvalid, RecordsRefused, Refusal
from exporter_tui.sources.ingest.resolve import RELATIVE_BELOW, Defaults

__all__ = [
    "BATCH_RECORDS",
    "FORMATS",
    "MAX_KEPT",
    "RELATIVE_BELOW",
    "SHOWN",
    "Batch",
    "Defaults",
    "FileInvalid",
    "FileReader",
    "RecordsRefused",
    "Refusal",
    "detect_format",
]

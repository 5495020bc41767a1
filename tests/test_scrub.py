"The notebook runner's scrubber removes durations without eating the table rows around them."
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'tools'))
from run_notebooks import scrub_text  # noqa: E402

def test_duration_scrub_stays_on_its_line():
    table = 'epochs        29\nseconds   434.62\nsessions       1'
    assert scrub_text(table) == table                        # a run summary: the row names and the epoch count survive
    assert scrub_text('took 3.2 s, 12 seconds, 4 min') == 'took <duration>, <duration>, <duration>'

# An example UDF, written as for Fused: udfcron's local engine runs it
# unchanged. Parameters arrive as keyword arguments; the return value is the
# run's result (JSON).
import platform

import fused


@fused.udf
def udf(greeting: str = "hello", scheduled: str = "", attempt: str = "1"):
    print(f"{greeting} from Python {platform.python_version()}, slot {scheduled}")
    return {"greeting": greeting, "scheduled": scheduled, "attempt": int(attempt)}

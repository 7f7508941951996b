"""One partition per title (an episode or film), keys like `series.s01e03`."""

import dagster as dg

titles_partitions = dg.DynamicPartitionsDefinition(name="titles")

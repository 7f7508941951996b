"""One partition per title (an episode or film), keys like `series.s01e03`; one per season, keys like
`series.s01` (a title without an episode number is a season of its own: `videoclusternet.titles.cast_season`)."""

import dagster as dg

titles_partitions = dg.DynamicPartitionsDefinition(name="titles")
seasons_partitions = dg.DynamicPartitionsDefinition(name="seasons")

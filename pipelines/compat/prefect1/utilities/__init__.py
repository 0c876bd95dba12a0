"""Prefect 1 utilities that flows import: edges, tasks, logging, graphql."""

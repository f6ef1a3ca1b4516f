"""Apache Airflow provider for the axiom.ai API."""

from __future__ import annotations

from typing import Any

__version__ = "0.3.0.dev0"

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Return the provider metadata Airflow's providers manager reads (entry point ``apache_airflow_provider``)."""
    from airflow_provider_axiom._connection import conn_fields

    return {
        "package-name": "airflow-provider-axiom",
        "name": "axiom.ai",
        "description": "Trigger axiom.ai browser automations, wait for them (deferrable), and fetch their output.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "axiom.ai",
                "external-doc-url": "https://axiom.ai/docs/developer-hub/api",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "axiom.ai", "python-modules": ["airflow_provider_axiom.hooks.axiom"]}],
        "operators": [{"integration-name": "axiom.ai", "python-modules": ["airflow_provider_axiom.operators.axiom"]}],
        "sensors": [{"integration-name": "axiom.ai", "python-modules": ["airflow_provider_axiom.sensors.axiom"]}],
        "triggers": [
            {
                "integration-name": "axiom.ai",
                "python-modules": [
                    "airflow_provider_axiom.triggers.axiom",
                    "airflow_provider_axiom.triggers.slot",
                    "airflow_provider_axiom.triggers.watch",
                ],
            }
        ],
        "connection-types": [
            {
                "connection-type": "axiom",
                "hook-class-name": "airflow_provider_axiom.hooks.axiom.AxiomHook",
                "hook-name": "axiom.ai",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"password": "API key", "host": "Base URL"},
                    "placeholders": {
                        "host": "https://lar.axiom.ai/api/v3",
                        "password": "your axiom.ai API key",
                    },
                },
                "conn-fields": conn_fields(),
            }
        ],
        "extra-links": ["airflow_provider_axiom.operators.axiom.AxiomRunLink"],
    }

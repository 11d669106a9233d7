"""Declarations: pydantic models of the YAML trees, their loading and validation."""

from dataplat_dagster.config.errors import DeclarationError
from dataplat_dagster.config.loader import load_dataflows, load_project
from dataplat_dagster.config.models import Dataflow, Layer
from dataplat_dagster.config.plan import Plan, TableId, TablePlan, build_plan
from dataplat_dagster.config.profile import Profile, load_profile

__all__ = [
    "Dataflow",
    "DeclarationError",
    "Layer",
    "Plan",
    "Profile",
    "TableId",
    "TablePlan",
    "build_plan",
    "load_dataflows",
    "load_profile",
    "load_project",
]

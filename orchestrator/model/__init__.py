"""Frozen, validated domain types. No I/O here."""

from .catalog import Catalog, Changes, Firmware, OsUpgrade, PbxRelease, Release
from .contract import (
    DEFAULT_REACTION_HOURS,
    Contract,
    ContractBase,
    HardwareMaintenance,
    Hosting,
    HourPackage,
    Sla,
    SoftwareMaintenance,
)
from .customer import (
    Contact,
    Customer,
    EdgeRouter,
    HardwareItem,
    Licence,
    Phone,
    Site,
    System,
    normalize_mac,
)
from .entitlement import Entitlement, active_sla, entitlement, reaction_hours
from .stock import Stock, StockItem, Technician
from .tariffs import SlaRate, Tariffs
from .window import MaintenanceWindow, Slot, parse_slot

__all__ = [
    "DEFAULT_REACTION_HOURS",
    "Catalog",
    "Changes",
    "Contact",
    "Contract",
    "ContractBase",
    "Customer",
    "EdgeRouter",
    "Entitlement",
    "Firmware",
    "HardwareItem",
    "HardwareMaintenance",
    "Hosting",
    "HourPackage",
    "Licence",
    "MaintenanceWindow",
    "OsUpgrade",
    "PbxRelease",
    "Phone",
    "Release",
    "Site",
    "Sla",
    "SlaRate",
    "Slot",
    "SoftwareMaintenance",
    "Stock",
    "StockItem",
    "System",
    "Tariffs",
    "Technician",
    "active_sla",
    "entitlement",
    "normalize_mac",
    "parse_slot",
    "reaction_hours",
]

"""seed_catalog: demo products with stock, created through the services (so events go out)."""

from __future__ import annotations

from decimal import Decimal

from django.core.management.base import BaseCommand

from catalog import services
from catalog.models import Product

# (sku, name, price, stock, description). A few are scarce or sold out, to show a rejection.
PRODUCTS: list[tuple[str, str, str, int, str]] = [
    (
        "COF-ESP-250",
        "Espresso Beans, Dark Roast 250 g",
        "8.90",
        120,
        "Chocolatey, low acidity; for espresso and moka pots.",
    ),
    (
        "COF-FLT-250",
        "Filter Coffee, Ethiopia Yirgacheffe 250 g",
        "11.50",
        80,
        "Floral and citrus notes; washed process.",
    ),
    ("COF-DCF-250", "Decaf Colombia 250 g", "9.40", 40, "Swiss-water decaffeinated, caramel sweetness."),
    ("COF-GRN-001", "Manual Burr Grinder", "64.00", 25, "Stainless conical burrs, 40 click settings."),
    ("COF-KTL-001", "Gooseneck Kettle 1 l", "49.90", 18, "Precise pour spout, works on induction."),
    ("COF-AER-001", "AeroPress Coffee Maker", "39.95", 30, "Immersion brewer with 350 micro-filters."),
    ("COF-V60-002", "Ceramic Pour-Over Dripper, size 02", "24.00", 22, "Spiral ribs, one large hole."),
    ("COF-FIL-100", "Paper Filters, size 02 (100 pcs)", "5.50", 300, "Oxygen-bleached, tabbed."),
    ("TEA-SEN-100", "Japanese Sencha 100 g", "12.80", 60, "First flush, steamed green tea."),
    ("TEA-EGY-100", "Earl Grey Supreme 100 g", "9.90", 75, "Black tea with bergamot and cornflower."),
    ("TEA-POT-001", "Cast Iron Teapot 0.8 l", "42.00", 12, "Enamelled inside, with infuser."),
    ("KIT-MUG-001", "Stoneware Mug, Sand 350 ml", "14.00", 90, "Hand-glazed, dishwasher safe."),
    ("KIT-MUG-002", "Stoneware Mug, Slate 350 ml", "14.00", 85, "Hand-glazed, dishwasher safe."),
    ("KIT-BRD-001", "Oak Cutting Board 40 x 25 cm", "38.50", 20, "End-grain oak, oiled."),
    ("KIT-KNF-001", "Chef's Knife 20 cm", "89.00", 15, "Molybdenum steel, full tang."),
    ("KIT-PAN-028", "Carbon Steel Frying Pan 28 cm", "54.90", 14, "Pre-seasoned, oven safe."),
    ("KIT-TOW-003", "Linen Tea Towels (set of 3)", "19.90", 50, "Stonewashed European flax."),
    ("OFF-NTB-A5D", "Notebook A5, Dotted", "16.50", 140, "192 numbered pages, 100 g/m² paper."),
    ("OFF-NTB-A5L", "Notebook A5, Lined", "16.50", 110, "192 numbered pages, 100 g/m² paper."),
    ("OFF-PEN-FNT", "Fountain Pen, Medium Nib", "29.00", 35, "Steel nib, converter included."),
    ("OFF-INK-BLU", "Bottled Ink, Blue-Black 50 ml", "11.00", 45, "Water-based, fast drying."),
    ("OFF-LMP-001", "LED Desk Lamp", "74.00", 16, "Dimmable, adjustable colour temperature."),
    ("OFF-STD-001", "Aluminium Laptop Stand", "45.00", 28, "Foldable, six height settings."),
    ("ELE-CBL-C2C", "USB-C to USB-C Cable 1 m", "12.90", 200, "100 W power delivery, braided."),
    ("ELE-CHG-065", "65 W GaN Charger", "44.90", 40, "Two USB-C ports and one USB-A port."),
    ("ELE-HDP-001", "Over-Ear Headphones", "129.00", 10, "Active noise cancelling, 30 h battery."),
    ("ELE-SPK-001", "Portable Bluetooth Speaker", "59.00", 3, "Splash proof (IPX5), 12 h battery."),
    ("ELE-KBD-001", "Mechanical Keyboard, Tenkeyless", "99.00", 8, "Hot-swappable switches, PBT keycaps."),
    ("OUT-BTL-750", "Insulated Bottle 750 ml", "27.50", 70, "Keeps drinks cold 24 h, hot 12 h."),
    ("OUT-BAG-20L", "Daypack 20 l", "79.00", 12, "Recycled nylon, laptop sleeve."),
    ("OUT-LMP-001", "Rechargeable Head Torch", "34.90", 26, "400 lumen, red light mode."),
    ("OUT-BLK-001", "Wool Picnic Blanket", "65.00", 9, "Water-resistant backing, 140 x 180 cm."),
    ("HOM-CND-001", "Soy Candle, Cedar & Smoke", "22.00", 55, "45 h burn time, cotton wick."),
    ("HOM-PLT-001", "Terracotta Plant Pot 15 cm", "13.50", 0, "Unglazed, with saucer. Back soon."),
    ("HOM-THR-001", "Merino Throw, Charcoal", "149.00", 2, "130 x 170 cm, made in Portugal."),
    ("HOM-CLK-001", "Wall Clock, Silent Sweep", "36.00", 19, "30 cm, oak frame."),
]


class Command(BaseCommand):
    help = (
        "Create demo products with stock (idempotent: a SKU that exists is left alone, so running "
        "it again changes nothing and publishes nothing)."
    )

    def handle(self, *args, **options):
        existing = set(
            Product.objects.filter(sku__in=[sku for sku, *_ in PRODUCTS]).values_list("sku", flat=True)
        )
        created = 0
        for sku, name, price, stock, description in PRODUCTS:
            if sku in existing:
                continue
            services.create_product(
                sku=sku, name=name, price=Decimal(price), stock=stock, description=description
            )
            created += 1
        self.stdout.write(f"catalog: {created} product(s) created, {len(PRODUCTS) - created} already there")

//! ISO 18245 merchant category codes and the ~20 category groups Lyra reports on.
//!
//! This module is the single source of truth for merchant category codes (MCC):
//! every code Lyra knows, its standard card-network description, and the
//! [`CategoryGroup`] it is rolled up into for spending analytics.
//! `lyra db migrate` syncs [`CATALOGUE`] and [`CategoryGroup::ALL`] into the
//! database tables, so any change here reaches the database on the next
//! migration; never edit those tables by hand.
//!
//! Codes absent from the catalogue (e.g. individual airline, car-rental and
//! hotel-chain codes in the 3000-3999 ranges beyond the handful listed) should
//! be treated by callers as [`CategoryGroup::Other`] or mapped by range.

/// A reporting category that merchant category codes are rolled up into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CategoryGroup {
    /// Supermarkets, grocery, dairy, liquor and convenience stores.
    Groceries,
    /// Sit-down restaurants, bars and caterers.
    Restaurants,
    /// Fast-food restaurants, bakeries and confectionery shops.
    FastFood,
    /// Service stations, fuel dispensers and fuel dealers.
    Fuel,
    /// Drug stores, pharmacies and drug wholesalers.
    Pharmacy,
    /// Clothing, shoes, accessories and jewellery.
    Clothing,
    /// Electronics, computers, software and appliances.
    Electronics,
    /// Furniture, home improvement, garden and contractors.
    Home,
    /// Cosmetics, beauty salons, barbers and spas.
    Beauty,
    /// Taxis, public transport, parking, tolls and car upkeep.
    Transport,
    /// Cinemas, theatres, recreation, gaming and digital goods.
    Entertainment,
    /// Airlines, railways, travel agencies, cruises and car rental.
    Travel,
    /// Hotels, motels, resorts and campgrounds.
    Hotels,
    /// Schools, universities, courses and child care.
    Education,
    /// Doctors, dentists, hospitals, opticians and labs.
    Health,
    /// Pet shops and veterinary services.
    Pets,
    /// Sporting goods, sports clubs, gyms and golf.
    Sports,
    /// Book stores, newsstands, publishing and stationery.
    Books,
    /// Mobile, fixed-line, internet and pay-TV services.
    Telecom,
    /// Everything else: financial, government, utilities, business services.
    Other,
}

impl CategoryGroup {
    /// All groups, in declaration order (`ALL[g.index()] == g`).
    pub const ALL: [CategoryGroup; 20] = [
        CategoryGroup::Groceries,
        CategoryGroup::Restaurants,
        CategoryGroup::FastFood,
        CategoryGroup::Fuel,
        CategoryGroup::Pharmacy,
        CategoryGroup::Clothing,
        CategoryGroup::Electronics,
        CategoryGroup::Home,
        CategoryGroup::Beauty,
        CategoryGroup::Transport,
        CategoryGroup::Entertainment,
        CategoryGroup::Travel,
        CategoryGroup::Hotels,
        CategoryGroup::Education,
        CategoryGroup::Health,
        CategoryGroup::Pets,
        CategoryGroup::Sports,
        CategoryGroup::Books,
        CategoryGroup::Telecom,
        CategoryGroup::Other,
    ];

    /// Stable snake_case identifier, used in the database and the API.
    pub fn code(self) -> &'static str {
        match self {
            CategoryGroup::Groceries => "groceries",
            CategoryGroup::Restaurants => "restaurants",
            CategoryGroup::FastFood => "fast_food",
            CategoryGroup::Fuel => "fuel",
            CategoryGroup::Pharmacy => "pharmacy",
            CategoryGroup::Clothing => "clothing",
            CategoryGroup::Electronics => "electronics",
            CategoryGroup::Home => "home",
            CategoryGroup::Beauty => "beauty",
            CategoryGroup::Transport => "transport",
            CategoryGroup::Entertainment => "entertainment",
            CategoryGroup::Travel => "travel",
            CategoryGroup::Hotels => "hotels",
            CategoryGroup::Education => "education",
            CategoryGroup::Health => "health",
            CategoryGroup::Pets => "pets",
            CategoryGroup::Sports => "sports",
            CategoryGroup::Books => "books",
            CategoryGroup::Telecom => "telecom",
            CategoryGroup::Other => "other",
        }
    }

    /// Human-readable English name.
    pub fn name_en(self) -> &'static str {
        match self {
            CategoryGroup::Groceries => "Groceries",
            CategoryGroup::Restaurants => "Restaurants",
            CategoryGroup::FastFood => "Fast food",
            CategoryGroup::Fuel => "Fuel",
            CategoryGroup::Pharmacy => "Pharmacies",
            CategoryGroup::Clothing => "Clothing and shoes",
            CategoryGroup::Electronics => "Electronics",
            CategoryGroup::Home => "Home and renovation",
            CategoryGroup::Beauty => "Beauty",
            CategoryGroup::Transport => "Taxi and transport",
            CategoryGroup::Entertainment => "Entertainment",
            CategoryGroup::Travel => "Travel",
            CategoryGroup::Hotels => "Hotels",
            CategoryGroup::Education => "Education",
            CategoryGroup::Health => "Health",
            CategoryGroup::Pets => "Pets",
            CategoryGroup::Sports => "Sports",
            CategoryGroup::Books => "Books",
            CategoryGroup::Telecom => "Telecom",
            CategoryGroup::Other => "Other",
        }
    }

    /// Human-readable Russian name.
    pub fn name_ru(self) -> &'static str {
        match self {
            CategoryGroup::Groceries => "Продукты",
            CategoryGroup::Restaurants => "Рестораны",
            CategoryGroup::FastFood => "Фастфуд",
            CategoryGroup::Fuel => "Топливо",
            CategoryGroup::Pharmacy => "Аптеки",
            CategoryGroup::Clothing => "Одежда и обувь",
            CategoryGroup::Electronics => "Электроника",
            CategoryGroup::Home => "Дом и ремонт",
            CategoryGroup::Beauty => "Красота",
            CategoryGroup::Transport => "Такси и транспорт",
            CategoryGroup::Entertainment => "Развлечения",
            CategoryGroup::Travel => "Путешествия",
            CategoryGroup::Hotels => "Отели",
            CategoryGroup::Education => "Образование",
            CategoryGroup::Health => "Здоровье",
            CategoryGroup::Pets => "Зоотовары",
            CategoryGroup::Sports => "Спорт",
            CategoryGroup::Books => "Книги",
            CategoryGroup::Telecom => "Связь",
            CategoryGroup::Other => "Прочее",
        }
    }

    /// Position of this group in [`CategoryGroup::ALL`] (0..20).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses a stable identifier produced by [`CategoryGroup::code`].
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.code() == code)
    }
}

/// One merchant category code with its standard description and reporting group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mcc {
    /// The four-digit ISO 18245 code (e.g. `5411`; `742` is written "0742").
    pub code: u16,
    /// Standard English description as published by the card networks.
    pub description: &'static str,
    /// The reporting group this code rolls up into.
    pub group: CategoryGroup,
}

use CategoryGroup as G;

const fn m(code: u16, description: &'static str, group: CategoryGroup) -> Mcc {
    Mcc {
        code,
        description,
        group,
    }
}

/// The MCC catalogue, sorted by code ascending; each code appears once.
pub static CATALOGUE: &[Mcc] = &[
    // Agricultural services (0001-1499)
    m(742, "Veterinary Services", G::Pets),
    // Feed and farm-animal supplies; the closest real code to pet spending
    // after 0742 and 5995 (the networks define no further pet codes).
    m(763, "Agricultural Cooperatives", G::Pets),
    m(780, "Landscaping and Horticultural Services", G::Home),
    // Contracted services (1500-2999)
    m(
        1520,
        "General Contractors - Residential and Commercial",
        G::Home,
    ),
    m(
        1711,
        "Heating, Plumbing, and Air Conditioning Contractors",
        G::Home,
    ),
    m(1731, "Electrical Contractors", G::Home),
    m(
        1740,
        "Masonry, Stonework, Tile Setting, Plastering, and Insulation Contractors",
        G::Home,
    ),
    m(1750, "Carpentry Contractors", G::Home),
    m(
        1761,
        "Roofing, Siding, and Sheet Metal Work Contractors",
        G::Home,
    ),
    m(1771, "Concrete Work Contractors", G::Home),
    m(
        1799,
        "Special Trade Contractors (Not Elsewhere Classified)",
        G::Home,
    ),
    m(2741, "Miscellaneous Publishing and Printing", G::Books),
    m(
        2791,
        "Typesetting, Plate Making, and Related Services",
        G::Other,
    ),
    m(
        2842,
        "Specialty Cleaning, Polishing, and Sanitation Preparations",
        G::Home,
    ),
    // Airlines (3000-3299), a representative handful
    m(3000, "United Airlines", G::Travel),
    m(3001, "American Airlines", G::Travel),
    m(3002, "Pan American", G::Travel),
    m(3004, "Trans World Airlines", G::Travel),
    m(3005, "British Airways", G::Travel),
    m(3006, "Japan Airlines", G::Travel),
    m(3007, "Air France", G::Travel),
    m(3008, "Lufthansa", G::Travel),
    m(3009, "Air Canada", G::Travel),
    m(3010, "KLM (Royal Dutch Airlines)", G::Travel),
    m(3011, "Aeroflot", G::Travel),
    m(3012, "Qantas", G::Travel),
    // Car rental (3351-3441), a representative handful
    m(3351, "Affiliated Auto Rental", G::Travel),
    m(3352, "American International Rent-A-Car", G::Travel),
    m(3353, "Brooks Rent-A-Car", G::Travel),
    m(3354, "Action Auto Rental", G::Travel),
    m(3357, "Hertz Rent-A-Car", G::Travel),
    m(3359, "Payless Car Rental", G::Travel),
    m(3360, "Snappy Car Rental", G::Travel),
    // Lodging (3501-3999), a representative handful
    m(3501, "Holiday Inns", G::Hotels),
    m(3502, "Best Western Hotels", G::Hotels),
    m(3503, "Sheraton Hotels", G::Hotels),
    m(3504, "Hilton Hotels", G::Hotels),
    m(3505, "Forte Hotels", G::Hotels),
    m(3506, "Golden Tulip Hotels", G::Hotels),
    m(3507, "Friendship Inns", G::Hotels),
    m(3508, "Quality Inns", G::Hotels),
    m(3509, "Marriott Hotels", G::Hotels),
    m(3510, "Days Inn", G::Hotels),
    // Transportation (4000-4799)
    m(4011, "Railroads", G::Transport),
    m(
        4111,
        "Local and Suburban Commuter Passenger Transportation, Including Ferries",
        G::Transport,
    ),
    m(4112, "Passenger Railways", G::Travel),
    m(4119, "Ambulance Services", G::Health),
    m(4121, "Taxicabs and Limousines", G::Transport),
    m(4131, "Bus Lines", G::Transport),
    m(
        4214,
        "Motor Freight Carriers and Trucking - Local and Long Distance, Moving and Storage Companies, and Local Delivery Services",
        G::Other,
    ),
    m(
        4215,
        "Courier Services - Air and Ground, and Freight Forwarders",
        G::Other,
    ),
    m(
        4225,
        "Public Warehousing and Storage - Farm Products, Refrigerated Goods, Household Goods",
        G::Other,
    ),
    m(4411, "Steamship and Cruise Lines", G::Travel),
    m(4457, "Boat Rentals and Leases", G::Entertainment),
    m(4468, "Marinas, Marine Service, and Supplies", G::Transport),
    m(4511, "Airlines, Air Carriers", G::Travel),
    m(
        4582,
        "Airports, Flying Fields, and Airport Terminals",
        G::Travel,
    ),
    m(4722, "Travel Agencies and Tour Operators", G::Travel),
    m(4723, "Package Tour Operators - Germany Only", G::Travel),
    m(4784, "Tolls and Bridge Fees", G::Transport),
    m(
        4789,
        "Transportation Services (Not Elsewhere Classified)",
        G::Transport,
    ),
    // Utilities and telecommunications (4800-4999)
    m(
        4812,
        "Telecommunication Equipment and Telephone Sales",
        G::Telecom,
    ),
    m(4814, "Telecommunication Services", G::Telecom),
    m(
        4816,
        "Computer Network and Information Services",
        G::Telecom,
    ),
    m(4821, "Telegraph Services", G::Telecom),
    m(4829, "Wire Transfers and Money Orders", G::Other),
    m(
        4899,
        "Cable, Satellite, and Other Pay Television and Radio Services",
        G::Telecom,
    ),
    m(
        4900,
        "Utilities - Electric, Gas, Water, and Sanitary",
        G::Other,
    ),
    // Wholesale distributors and manufacturers (5000-5199)
    m(5013, "Motor Vehicle Supplies and New Parts", G::Transport),
    m(5021, "Office and Commercial Furniture", G::Home),
    m(
        5039,
        "Construction Materials (Not Elsewhere Classified)",
        G::Home,
    ),
    m(
        5044,
        "Photographic, Photocopy, Microfilm Equipment, and Supplies",
        G::Electronics,
    ),
    m(
        5045,
        "Computers and Computer Peripheral Equipment and Software",
        G::Electronics,
    ),
    m(
        5046,
        "Commercial Equipment (Not Elsewhere Classified)",
        G::Other,
    ),
    m(
        5047,
        "Medical, Dental, Ophthalmic, and Hospital Equipment and Supplies",
        G::Pharmacy,
    ),
    m(5051, "Metal Service Centers and Offices", G::Other),
    m(5065, "Electrical Parts and Equipment", G::Electronics),
    m(5072, "Hardware Equipment and Supplies", G::Home),
    m(5074, "Plumbing and Heating Equipment and Supplies", G::Home),
    m(
        5085,
        "Industrial Supplies (Not Elsewhere Classified)",
        G::Other,
    ),
    m(
        5094,
        "Precious Stones and Metals, Watches and Jewelry",
        G::Clothing,
    ),
    m(5099, "Durable Goods (Not Elsewhere Classified)", G::Other),
    m(
        5111,
        "Stationery, Office Supplies, Printing and Writing Paper",
        G::Books,
    ),
    m(
        5122,
        "Drugs, Drug Proprietaries, and Druggist Sundries",
        G::Pharmacy,
    ),
    m(
        5131,
        "Piece Goods, Notions, and Other Dry Goods",
        G::Clothing,
    ),
    m(
        5137,
        "Men's, Women's, and Children's Uniforms and Commercial Clothing",
        G::Clothing,
    ),
    m(5139, "Commercial Footwear", G::Clothing),
    m(
        5169,
        "Chemicals and Allied Products (Not Elsewhere Classified)",
        G::Other,
    ),
    m(5172, "Petroleum and Petroleum Products", G::Fuel),
    m(5192, "Books, Periodicals, and Newspapers", G::Books),
    m(
        5193,
        "Florists' Supplies, Nursery Stock, and Flowers",
        G::Home,
    ),
    m(5198, "Paints, Varnishes, and Supplies", G::Home),
    m(
        5199,
        "Nondurable Goods (Not Elsewhere Classified)",
        G::Other,
    ),
    // Retail outlets (5200-5599)
    m(5200, "Home Supply Warehouse Stores", G::Home),
    m(5211, "Lumber and Building Materials Stores", G::Home),
    m(5231, "Glass, Paint, and Wallpaper Stores", G::Home),
    m(5251, "Hardware Stores", G::Home),
    m(5261, "Nurseries and Lawn and Garden Supply Stores", G::Home),
    m(5271, "Mobile Home Dealers", G::Home),
    m(5300, "Wholesale Clubs", G::Groceries),
    m(5309, "Duty Free Stores", G::Other),
    m(5310, "Discount Stores", G::Other),
    m(5311, "Department Stores", G::Clothing),
    m(5331, "Variety Stores", G::Other),
    m(5399, "Miscellaneous General Merchandise", G::Other),
    m(5411, "Grocery Stores, Supermarkets", G::Groceries),
    m(5422, "Freezer and Locker Meat Provisioners", G::Groceries),
    m(5441, "Candy, Nut, and Confectionery Stores", G::FastFood),
    m(5451, "Dairy Products Stores", G::Groceries),
    // Bakeries are mostly grab-and-go bakery-cafes; grouped with fast food so
    // that the group has enough codes (the networks define only 5814 for it).
    m(5462, "Bakeries", G::FastFood),
    m(
        5499,
        "Miscellaneous Food Stores - Convenience Stores and Specialty Markets",
        G::Groceries,
    ),
    m(
        5511,
        "Car and Truck Dealers (New and Used) - Sales, Service, Repairs, Parts, and Leasing",
        G::Transport,
    ),
    m(
        5521,
        "Car and Truck Dealers (Used Only) - Sales, Service, Repairs, Parts, and Leasing",
        G::Transport,
    ),
    m(5531, "Auto and Home Supply Stores", G::Transport),
    m(5532, "Automotive Tire Stores", G::Transport),
    m(
        5533,
        "Automotive Parts and Accessories Stores",
        G::Transport,
    ),
    m(5541, "Service Stations", G::Fuel),
    m(5542, "Automated Fuel Dispensers", G::Fuel),
    m(5551, "Boat Dealers", G::Transport),
    m(
        5561,
        "Camper, Recreational and Utility Trailer Dealers",
        G::Transport,
    ),
    m(5571, "Motorcycle Shops and Dealers", G::Transport),
    m(5592, "Motor Homes Dealers", G::Transport),
    m(5598, "Snowmobile Dealers", G::Transport),
    m(
        5599,
        "Miscellaneous Automotive, Aircraft, and Farm Equipment Dealers (Not Elsewhere Classified)",
        G::Transport,
    ),
    // Clothing stores (5600-5699)
    m(
        5611,
        "Men's and Boys' Clothing and Accessories Stores",
        G::Clothing,
    ),
    m(5621, "Women's Ready-to-Wear Stores", G::Clothing),
    m(5631, "Women's Accessory and Specialty Shops", G::Clothing),
    m(5641, "Children's and Infants' Wear Stores", G::Clothing),
    m(5651, "Family Clothing Stores", G::Clothing),
    m(5655, "Sports and Riding Apparel Stores", G::Sports),
    m(5661, "Shoe Stores", G::Clothing),
    m(5681, "Furriers and Fur Shops", G::Clothing),
    m(5691, "Men's and Women's Clothing Stores", G::Clothing),
    m(
        5697,
        "Tailors, Seamstresses, Mending, and Alterations",
        G::Clothing,
    ),
    m(5698, "Wig and Toupee Stores", G::Beauty),
    m(
        5699,
        "Miscellaneous Apparel and Accessory Shops",
        G::Clothing,
    ),
    // Miscellaneous stores (5700-7299)
    m(
        5712,
        "Furniture, Home Furnishings, and Equipment Stores, Except Appliances",
        G::Home,
    ),
    m(5713, "Floor Covering Stores", G::Home),
    m(
        5714,
        "Drapery, Window Covering, and Upholstery Stores",
        G::Home,
    ),
    m(
        5718,
        "Fireplaces, Fireplace Screens, and Accessories Stores",
        G::Home,
    ),
    m(
        5719,
        "Miscellaneous Home Furnishing Specialty Stores",
        G::Home,
    ),
    m(5722, "Household Appliance Stores", G::Electronics),
    m(5732, "Electronics Stores", G::Electronics),
    m(
        5733,
        "Music Stores - Musical Instruments, Pianos, and Sheet Music",
        G::Entertainment,
    ),
    m(5734, "Computer Software Stores", G::Electronics),
    m(5735, "Record Stores", G::Entertainment),
    m(5811, "Caterers", G::Restaurants),
    m(5812, "Eating Places, Restaurants", G::Restaurants),
    m(
        5813,
        "Drinking Places (Alcoholic Beverages) - Bars, Taverns, Nightclubs, Cocktail Lounges, and Discotheques",
        G::Restaurants,
    ),
    m(5814, "Fast Food Restaurants", G::FastFood),
    m(
        5815,
        "Digital Goods Media - Books, Movies, Music",
        G::Entertainment,
    ),
    m(5816, "Digital Goods - Games", G::Entertainment),
    m(
        5817,
        "Digital Goods - Applications (Excludes Games)",
        G::Entertainment,
    ),
    m(
        5818,
        "Digital Goods - Large Digital Goods Merchant",
        G::Entertainment,
    ),
    m(5912, "Drug Stores and Pharmacies", G::Pharmacy),
    m(
        5921,
        "Package Stores - Beer, Wine, and Liquor",
        G::Groceries,
    ),
    m(5931, "Used Merchandise and Secondhand Stores", G::Other),
    m(
        5932,
        "Antique Shops - Sales, Repairs, and Restoration Services",
        G::Home,
    ),
    m(5933, "Pawn Shops", G::Other),
    m(5935, "Wrecking and Salvage Yards", G::Other),
    m(5937, "Antique Reproductions", G::Home),
    m(5940, "Bicycle Shops - Sales and Service", G::Sports),
    m(5941, "Sporting Goods Stores", G::Sports),
    m(5942, "Book Stores", G::Books),
    m(
        5943,
        "Stationery, Office, and School Supply Stores",
        G::Books,
    ),
    m(
        5944,
        "Jewelry Stores, Watches, Clocks, and Silverware Stores",
        G::Clothing,
    ),
    m(5945, "Hobby, Toy, and Game Shops", G::Entertainment),
    m(
        5946,
        "Camera and Photographic Supply Stores",
        G::Electronics,
    ),
    m(5947, "Gift, Card, Novelty, and Souvenir Shops", G::Other),
    m(5948, "Luggage and Leather Goods Stores", G::Clothing),
    m(
        5949,
        "Sewing, Needlework, Fabric, and Piece Goods Stores",
        G::Clothing,
    ),
    m(5950, "Glassware and Crystal Stores", G::Home),
    m(5960, "Direct Marketing - Insurance Services", G::Other),
    m(
        5962,
        "Direct Marketing - Travel-Related Arrangement Services",
        G::Travel,
    ),
    m(5963, "Door-to-Door Sales", G::Other),
    m(5964, "Direct Marketing - Catalog Merchant", G::Other),
    m(
        5965,
        "Direct Marketing - Combination Catalog and Retail Merchant",
        G::Other,
    ),
    m(
        5966,
        "Direct Marketing - Outbound Telemarketing Merchant",
        G::Other,
    ),
    m(
        5967,
        "Direct Marketing - Inbound Teleservices Merchant",
        G::Other,
    ),
    m(
        5968,
        "Direct Marketing - Continuity/Subscription Merchant",
        G::Other,
    ),
    m(
        5969,
        "Direct Marketing - Other Direct Marketers (Not Elsewhere Classified)",
        G::Other,
    ),
    m(5970, "Artist's Supply and Craft Shops", G::Other),
    m(5971, "Art Dealers and Galleries", G::Other),
    m(5972, "Stamp and Coin Stores", G::Other),
    m(5973, "Religious Goods Stores", G::Other),
    m(
        5975,
        "Hearing Aids - Sales, Service, and Supplies",
        G::Health,
    ),
    m(5976, "Orthopedic Goods - Prosthetic Devices", G::Health),
    m(5977, "Cosmetic Stores", G::Beauty),
    m(
        5978,
        "Typewriter Stores - Sales, Service, and Rentals",
        G::Electronics,
    ),
    m(
        5983,
        "Fuel Dealers - Fuel Oil, Wood, Coal, and Liquefied Petroleum",
        G::Fuel,
    ),
    m(5992, "Florists", G::Home),
    m(5993, "Cigar Stores and Stands", G::Other),
    m(5994, "News Dealers and Newsstands", G::Books),
    m(5995, "Pet Shops, Pet Food, and Supplies", G::Pets),
    m(
        5996,
        "Swimming Pools - Sales, Service, and Supplies",
        G::Home,
    ),
    m(5997, "Electric Razor Stores - Sales and Service", G::Beauty),
    m(5998, "Tent and Awning Shops", G::Home),
    m(5999, "Miscellaneous and Specialty Retail Stores", G::Other),
    m(
        6010,
        "Financial Institutions - Manual Cash Disbursements",
        G::Other,
    ),
    m(
        6011,
        "Financial Institutions - Automated Cash Disbursements",
        G::Other,
    ),
    m(
        6012,
        "Financial Institutions - Merchandise and Services",
        G::Other,
    ),
    m(
        6051,
        "Non-Financial Institutions - Foreign Currency, Money Orders (Not Wire Transfer), Travelers Cheques",
        G::Other,
    ),
    m(6211, "Security Brokers/Dealers", G::Other),
    m(
        6300,
        "Insurance Sales, Underwriting, and Premiums",
        G::Other,
    ),
    m(6513, "Real Estate Agents and Managers - Rentals", G::Other),
    m(
        6540,
        "Non-Financial Institutions - Stored Value Card Purchase/Load",
        G::Other,
    ),
    m(
        7011,
        "Lodging - Hotels, Motels, Resorts, Central Reservation Services (Not Elsewhere Classified)",
        G::Hotels,
    ),
    m(7012, "Timeshares", G::Hotels),
    m(7032, "Sporting and Recreational Camps", G::Sports),
    m(7033, "Trailer Parks and Campgrounds", G::Hotels),
    m(7210, "Laundry, Cleaning, and Garment Services", G::Other),
    m(7211, "Laundries - Family and Commercial", G::Other),
    m(7216, "Dry Cleaners", G::Other),
    m(7217, "Carpet and Upholstery Cleaning", G::Home),
    m(7221, "Photographic Studios", G::Other),
    m(7230, "Beauty and Barber Shops", G::Beauty),
    m(
        7251,
        "Shoe Repair Shops, Shoe Shine Parlors, and Hat Cleaning Shops",
        G::Clothing,
    ),
    m(7261, "Funeral Services and Crematories", G::Other),
    m(7273, "Dating and Escort Services", G::Other),
    m(7276, "Tax Preparation Services", G::Other),
    m(
        7277,
        "Counseling Services - Debt, Marriage, and Personal",
        G::Other,
    ),
    m(7278, "Buying and Shopping Services and Clubs", G::Other),
    m(
        7296,
        "Clothing Rental - Costumes, Uniforms, Formal Wear",
        G::Clothing,
    ),
    m(7297, "Massage Parlors", G::Beauty),
    m(7298, "Health and Beauty Spas", G::Beauty),
    m(
        7299,
        "Miscellaneous Personal Services (Not Elsewhere Classified)",
        G::Other,
    ),
    // Business services (7300-7529)
    m(7311, "Advertising Services", G::Other),
    m(7321, "Consumer Credit Reporting Agencies", G::Other),
    m(7333, "Commercial Photography, Art, and Graphics", G::Other),
    m(
        7338,
        "Quick Copy, Reproduction, and Blueprinting Services",
        G::Other,
    ),
    m(
        7339,
        "Stenographic and Secretarial Support Services",
        G::Other,
    ),
    m(7342, "Exterminating and Disinfecting Services", G::Home),
    m(
        7349,
        "Cleaning, Maintenance, and Janitorial Services",
        G::Home,
    ),
    m(
        7361,
        "Employment Agencies and Temporary Help Services",
        G::Other,
    ),
    m(
        7372,
        "Computer Programming, Data Processing, and Integrated Systems Design Services",
        G::Other,
    ),
    m(7375, "Information Retrieval Services", G::Other),
    m(
        7379,
        "Computer Maintenance, Repair and Services (Not Elsewhere Classified)",
        G::Electronics,
    ),
    m(
        7392,
        "Management, Consulting, and Public Relations Services",
        G::Other,
    ),
    m(
        7393,
        "Detective Agencies, Protective Agencies, and Security Services, Including Armored Cars and Guard Dogs",
        G::Other,
    ),
    m(
        7394,
        "Equipment, Tool, Furniture, and Appliance Rental and Leasing",
        G::Other,
    ),
    m(
        7395,
        "Photofinishing Laboratories and Photo Developing",
        G::Other,
    ),
    m(
        7399,
        "Business Services (Not Elsewhere Classified)",
        G::Other,
    ),
    m(7511, "Truck Stops", G::Fuel),
    m(7512, "Automobile Rental Agency", G::Travel),
    m(7513, "Truck and Utility Trailer Rentals", G::Transport),
    m(
        7519,
        "Motor Home and Recreational Vehicle Rentals",
        G::Travel,
    ),
    m(
        7523,
        "Parking Lots, Parking Meters, and Garages",
        G::Transport,
    ),
    // Repair services (7530-7799)
    m(7531, "Automotive Body Repair Shops", G::Transport),
    m(7534, "Tire Retreading and Repair Shops", G::Transport),
    m(7535, "Automotive Paint Shops", G::Transport),
    m(7538, "Automotive Service Shops (Non-Dealer)", G::Transport),
    m(7542, "Car Washes", G::Transport),
    m(7549, "Towing Services", G::Transport),
    m(7622, "Electronics Repair Shops", G::Electronics),
    m(
        7623,
        "Air Conditioning and Refrigeration Repair Shops",
        G::Home,
    ),
    m(
        7629,
        "Electrical and Small Appliance Repair Shops",
        G::Electronics,
    ),
    m(7631, "Watch, Clock, and Jewelry Repair Shops", G::Clothing),
    m(
        7641,
        "Furniture - Reupholstery, Repair, and Refinishing",
        G::Home,
    ),
    m(7692, "Welding Repair", G::Other),
    m(
        7699,
        "Miscellaneous Repair Shops and Related Services",
        G::Other,
    ),
    // Amusement and entertainment (7800-7999)
    m(
        7800,
        "Government-Owned Lotteries (US Region Only)",
        G::Entertainment,
    ),
    m(
        7801,
        "Government Licensed On-Line Casinos (On-Line Gambling) (US Region Only)",
        G::Entertainment,
    ),
    m(
        7802,
        "Government-Licensed Horse/Dog Racing (US Region Only)",
        G::Entertainment,
    ),
    m(
        7829,
        "Motion Picture and Video Tape Production and Distribution",
        G::Entertainment,
    ),
    m(7832, "Motion Picture Theaters", G::Entertainment),
    m(7841, "Video Tape Rental Stores", G::Entertainment),
    m(7911, "Dance Halls, Studios, and Schools", G::Entertainment),
    m(
        7922,
        "Theatrical Producers (Except Motion Pictures) and Ticket Agencies",
        G::Entertainment,
    ),
    m(
        7929,
        "Bands, Orchestras, and Miscellaneous Entertainers (Not Elsewhere Classified)",
        G::Entertainment,
    ),
    m(7932, "Billiard and Pool Establishments", G::Entertainment),
    m(7933, "Bowling Alleys", G::Entertainment),
    m(
        7941,
        "Commercial Sports, Professional Sports Clubs, Athletic Fields, and Sports Promoters",
        G::Sports,
    ),
    m(7991, "Tourist Attractions and Exhibits", G::Entertainment),
    m(7992, "Public Golf Courses", G::Sports),
    m(7993, "Video Amusement Game Supplies", G::Entertainment),
    m(
        7994,
        "Video Game Arcades and Establishments",
        G::Entertainment,
    ),
    m(
        7995,
        "Betting, Including Lottery Tickets, Casino Gaming Chips, Off-Track Betting, and Wagers at Race Tracks",
        G::Entertainment,
    ),
    m(
        7996,
        "Amusement Parks, Circuses, Carnivals, and Fortune Tellers",
        G::Entertainment,
    ),
    m(
        7997,
        "Membership Clubs (Sports, Recreation, Athletic), Country Clubs, and Private Golf Courses",
        G::Sports,
    ),
    m(
        7998,
        "Aquariums, Seaquariums, and Dolphinariums",
        G::Entertainment,
    ),
    m(
        7999,
        "Recreation Services (Not Elsewhere Classified)",
        G::Entertainment,
    ),
    // Professional services and membership organizations (8000-8999)
    m(
        8011,
        "Doctors and Physicians (Not Elsewhere Classified)",
        G::Health,
    ),
    m(8021, "Dentists and Orthodontists", G::Health),
    m(8031, "Osteopaths", G::Health),
    m(8041, "Chiropractors", G::Health),
    m(8042, "Optometrists and Ophthalmologists", G::Health),
    m(8043, "Opticians, Optical Goods, and Eyeglasses", G::Health),
    m(8049, "Podiatrists and Chiropodists", G::Health),
    m(8050, "Nursing and Personal Care Facilities", G::Health),
    m(8062, "Hospitals", G::Health),
    m(8071, "Medical and Dental Laboratories", G::Health),
    m(
        8099,
        "Medical Services and Health Practitioners (Not Elsewhere Classified)",
        G::Health,
    ),
    m(8111, "Legal Services and Attorneys", G::Other),
    m(8211, "Elementary and Secondary Schools", G::Education),
    m(
        8220,
        "Colleges, Universities, Professional Schools, and Junior Colleges",
        G::Education,
    ),
    m(8241, "Correspondence Schools", G::Education),
    m(8244, "Business and Secretarial Schools", G::Education),
    m(8249, "Vocational and Trade Schools", G::Education),
    m(
        8299,
        "Schools and Educational Services (Not Elsewhere Classified)",
        G::Education,
    ),
    m(8351, "Child Care Services", G::Education),
    m(
        8398,
        "Charitable and Social Service Organizations",
        G::Other,
    ),
    m(8641, "Civic, Social, and Fraternal Associations", G::Other),
    m(8651, "Political Organizations", G::Other),
    m(8661, "Religious Organizations", G::Other),
    m(8675, "Automobile Associations", G::Transport),
    m(
        8699,
        "Membership Organizations (Not Elsewhere Classified)",
        G::Other,
    ),
    m(8734, "Testing Laboratories (Non-Medical Testing)", G::Other),
    m(
        8911,
        "Architectural, Engineering, and Surveying Services",
        G::Other,
    ),
    m(
        8931,
        "Accounting, Auditing, and Bookkeeping Services",
        G::Other,
    ),
    m(
        8999,
        "Professional Services (Not Elsewhere Classified)",
        G::Other,
    ),
    // Government services (9000-9999)
    m(
        9211,
        "Court Costs, Including Alimony and Child Support",
        G::Other,
    ),
    m(9222, "Fines", G::Other),
    m(9223, "Bail and Bond Payments", G::Other),
    m(9311, "Tax Payments", G::Other),
    m(
        9399,
        "Government Services (Not Elsewhere Classified)",
        G::Other,
    ),
    m(9402, "Postal Services - Government Only", G::Other),
    m(
        9405,
        "U.S. Federal Government Agencies or Departments",
        G::Other,
    ),
    m(9950, "Intra-Company Purchases", G::Other),
];

/// Finds a code in [`CATALOGUE`] by binary search.
pub fn lookup(code: u16) -> Option<&'static Mcc> {
    CATALOGUE
        .binary_search_by_key(&code, |m| m.code)
        .ok()
        .map(|i| &CATALOGUE[i])
}

/// All catalogue entries that roll up into `group`, in code order.
pub fn codes_in(group: CategoryGroup) -> impl Iterator<Item = &'static Mcc> {
    CATALOGUE.iter().filter(move |m| m.group == group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_strictly_sorted_and_unique() {
        for w in CATALOGUE.windows(2) {
            assert!(
                w[0].code < w[1].code,
                "{} must come before {}",
                w[0].code,
                w[1].code
            );
        }
    }

    #[test]
    fn catalogue_size_is_in_range() {
        assert!(
            (250..=350).contains(&CATALOGUE.len()),
            "len = {}",
            CATALOGUE.len()
        );
    }

    #[test]
    fn every_group_has_at_least_three_codes() {
        for g in CategoryGroup::ALL {
            let n = codes_in(g).count();
            assert!(n >= 3, "{:?} has only {} codes", g, n);
        }
    }

    #[test]
    fn group_codes_round_trip() {
        for g in CategoryGroup::ALL {
            assert_eq!(CategoryGroup::from_code(g.code()), Some(g));
        }
        assert_eq!(CategoryGroup::from_code("nope"), None);
    }

    #[test]
    fn index_matches_position_in_all() {
        for (i, g) in CategoryGroup::ALL.iter().enumerate() {
            assert_eq!(g.index(), i);
        }
    }

    #[test]
    fn descriptions_are_non_empty_ascii() {
        for m in CATALOGUE {
            assert!(
                !m.description.is_empty() && m.description.is_ascii(),
                "{}",
                m.code
            );
            assert!(m.code < 10_000);
        }
    }

    #[test]
    fn known_lookups() {
        assert_eq!(
            lookup(5411).map(|m| m.group),
            Some(CategoryGroup::Groceries)
        );
        assert_eq!(
            lookup(5812).map(|m| m.group),
            Some(CategoryGroup::Restaurants)
        );
        assert_eq!(lookup(5814).map(|m| m.group), Some(CategoryGroup::FastFood));
        assert_eq!(lookup(5912).map(|m| m.group), Some(CategoryGroup::Pharmacy));
        assert_eq!(
            lookup(4121).map(|m| m.group),
            Some(CategoryGroup::Transport)
        );
        assert_eq!(
            lookup(742).map(|m| m.description),
            Some("Veterinary Services")
        );
        assert!(lookup(1).is_none());
        assert!(lookup(9999).is_none());
    }
}

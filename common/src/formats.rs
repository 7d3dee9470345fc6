//! The bank file formats: what `lyra generate` writes and the ingest service accepts.
//!
//! CSV files are UTF-8 with a header line and comma separators; NDJSON files hold one JSON
//! object per line with the same field names. Amounts are integers in minor units
//! (kopecks); timestamps are RFC 3339 with the merchant's local UTC offset.

/// One kind of bank file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// Client organisations (tenants).
    Organisations,
    /// Cardholders.
    Customers,
    /// Merchant outlets.
    Merchants,
    /// Card payments and refunds.
    Transactions,
}

impl Entity {
    /// All entities, in load order (referenced before referencing).
    pub const ALL: [Entity; 4] = [
        Entity::Organisations,
        Entity::Customers,
        Entity::Merchants,
        Entity::Transactions,
    ];

    /// File stem, e.g. `transactions` for `transactions.csv`.
    pub fn file_stem(self) -> &'static str {
        match self {
            Entity::Organisations => "organisations",
            Entity::Customers => "customers",
            Entity::Merchants => "merchants",
            Entity::Transactions => "transactions",
        }
    }

    /// Field names in file order; the CSV header is these joined by commas.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Entity::Organisations => &["org_id", "name"],
            Entity::Customers => &[
                "customer_id",
                "birth_year",
                "gender",
                "home_region",
                "client_since",
            ],
            Entity::Merchants => &[
                "merchant_id",
                "org_id",
                "name",
                "mcc",
                "region",
                "city",
                "latitude",
                "longitude",
                "opened_on",
                "closed_on",
            ],
            Entity::Transactions => &[
                "txn_id",
                "booked_at",
                "customer_id",
                "merchant_id",
                "amount_minor",
                "currency",
                "channel",
            ],
        }
    }

    /// The table the entity is stored in; its columns carry the same names in the same order.
    pub fn table(self) -> &'static str {
        match self {
            Entity::Organisations => "auth.organisations",
            Entity::Customers => "ingest.customers",
            Entity::Merchants => "ingest.merchants",
            Entity::Transactions => "ingest.transactions",
        }
    }

    /// The CSV header line, without the line end.
    pub fn csv_header(self) -> String {
        self.fields().join(",")
    }
}

/// The longest bank transaction id accepted.
pub const MAX_TXN_ID_LEN: usize = 64;

/// Payment channel of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Card present, at a terminal.
    Pos,
    /// Card not present, online.
    Ecom,
}

impl Channel {
    /// As written in files and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Pos => "pos",
            Channel::Ecom => "ecom",
        }
    }
}

//! Russian and English: the dashboard's words, and numbers, money and dates written the way
//! each language writes them. Every text the pages show is a key of [`TEXTS`]; a unit test
//! checks that every key the code uses is there in both languages.

use axum::http::HeaderMap;

/// The dashboard's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Russian.
    Ru,
}

impl Lang {
    /// From the preference cookie, else the browser's `Accept-Language`, else Russian
    /// (the bank's clients are Russian businesses).
    pub fn choose(cookie: Option<&str>, headers: &HeaderMap) -> Lang {
        match cookie {
            Some("en") => return Lang::En,
            Some("ru") => return Lang::Ru,
            _ => {}
        }
        let accept = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match accept.trim_start().get(..2) {
            Some(l) if l.eq_ignore_ascii_case("en") => Lang::En,
            _ => Lang::Ru,
        }
    }

    /// The code for `<html lang>` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    /// The text for `key` ("?" if missing, which the unit test prevents).
    pub fn t(self, key: &str) -> &'static str {
        match lookup(key) {
            Some((en, ru)) => match self {
                Lang::En => en,
                Lang::Ru => ru,
            },
            None => {
                tracing::warn!(key, "missing text");
                "?"
            }
        }
    }

    /// An integer with grouped thousands: `1,234,567` or `1 234 567`.
    pub fn int(self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let sep = match self {
            Lang::En => ",",
            Lang::Ru => "\u{a0}",
        };
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(sep);
            }
            out.push(c);
        }
        if n < 0 { format!("−{out}") } else { out }
    }

    /// A decimal with `places` digits after the point (comma in Russian).
    pub fn dec(self, x: f64, places: usize) -> String {
        let s = format!("{:.*}", places, x.abs());
        let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
        let whole = self.int(whole.parse::<i64>().unwrap_or(0));
        let sign = if x < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
            "−"
        } else {
            ""
        };
        match (frac.is_empty(), self) {
            (true, _) => format!("{sign}{whole}"),
            (false, Lang::En) => format!("{sign}{whole}.{frac}"),
            (false, Lang::Ru) => format!("{sign}{whole},{frac}"),
        }
    }

    /// Money from kopecks, in whole roubles: `12 345 ₽`.
    pub fn money(self, kopecks: f64) -> String {
        format!("{}\u{a0}₽", self.int((kopecks / 100.0).round() as i64))
    }

    /// Money in short form for chart axes: `1.2M ₽`, `1,2 млн ₽`.
    pub fn money_short(self, kopecks: f64) -> String {
        let roubles = kopecks / 100.0;
        let (value, unit) = if roubles.abs() >= 1e6 {
            (roubles / 1e6, self.t("unit.million"))
        } else if roubles.abs() >= 1e3 {
            (roubles / 1e3, self.t("unit.thousand"))
        } else {
            (roubles, "")
        };
        let places = if value.abs() < 10.0 && value.fract() != 0.0 {
            1
        } else {
            0
        };
        format!("{}{unit}\u{a0}₽", self.dec(value, places))
    }

    /// A fraction as a percentage: `47.7%` / `47,7 %`.
    pub fn percent(self, fraction: f64) -> String {
        let n = self.dec(fraction * 100.0, 1);
        match self {
            Lang::En => format!("{n}%"),
            Lang::Ru => format!("{n}\u{a0}%"),
        }
    }

    /// A change as a signed percentage: `+6.2%`.
    pub fn change(self, fraction: f64) -> String {
        let sign = if fraction > 0.0 { "+" } else { "" };
        format!("{sign}{}", self.percent(fraction))
    }

    /// An ISO date `2026-10-31` as `31 Oct 2026` / `31.10.2026`; anything else unchanged.
    pub fn date(self, iso: &str) -> String {
        let mut parts = iso.splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return iso.to_string();
        };
        match self {
            Lang::Ru => format!("{d}.{m}.{y}"),
            Lang::En => {
                const MONTHS: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                let month = m
                    .parse::<usize>()
                    .ok()
                    .and_then(|m| MONTHS.get(m.wrapping_sub(1)));
                match month {
                    Some(month) => format!("{} {month} {y}", d.trim_start_matches('0')),
                    None => iso.to_string(),
                }
            }
        }
    }

    /// A short date for chart axes: `31.10` / `Oct 31`.
    pub fn short_date(self, iso: &str) -> String {
        let date = self.date(iso);
        match self {
            Lang::Ru => date.get(..5).unwrap_or(&date).to_string(),
            Lang::En => {
                let mut words = date.split(' ');
                match (words.next(), words.next()) {
                    (Some(d), Some(m)) => format!("{m} {d}"),
                    _ => date,
                }
            }
        }
    }

    /// A term the API sends (a KPI, segment, category group, reason): its text under
    /// `prefix.term`, or the term itself with underscores as spaces when there is none.
    pub fn term(self, prefix: &str, term: &str) -> String {
        let key = format!("{prefix}.{term}");
        match lookup(&key) {
            Some((en, ru)) => match self {
                Lang::En => en.to_string(),
                Lang::Ru => ru.to_string(),
            },
            None => term.replace('_', " "),
        }
    }
}

/// English and Russian for `key`, from an index of [`TEXTS`] built once.
fn lookup(key: &str) -> Option<(&'static str, &'static str)> {
    static INDEX: std::sync::LazyLock<
        std::collections::HashMap<&'static str, (&'static str, &'static str)>,
    > = std::sync::LazyLock::new(|| TEXTS.iter().map(|(k, en, ru)| (*k, (*en, *ru))).collect());
    INDEX.get(key).copied()
}

/// Every text: key, English, Russian.
pub const TEXTS: &[(&str, &str, &str)] = &[
    ("app.name", "Lyra", "Lyra"),
    (
        "app.tagline",
        "Know your customers and your market",
        "Знайте своих клиентов и свой рынок",
    ),
    ("nav.overview", "Overview", "Обзор"),
    ("nav.customers", "Customers", "Клиенты"),
    ("nav.categories", "Categories", "Категории"),
    ("nav.competitors", "Competitors", "Конкуренты"),
    ("nav.forecast", "Forecast", "Прогноз"),
    ("nav.settings", "Settings", "Настройки"),
    ("nav.main", "Pages", "Разделы"),
    ("auth.logout", "Log out", "Выйти"),
    ("auth.login", "Log in", "Войти"),
    ("auth.email", "E-mail", "Эл. почта"),
    ("auth.password", "Password", "Пароль"),
    ("auth.title", "Log in to Lyra", "Вход в Lyra"),
    (
        "auth.invalid",
        "Wrong e-mail or password.",
        "Неверная почта или пароль.",
    ),
    (
        "auth.throttled",
        "Too many attempts. Try again in",
        "Слишком много попыток. Повторите через",
    ),
    ("auth.seconds", "s", "с"),
    (
        "auth.unavailable",
        "Login is unavailable right now. Try again in a minute.",
        "Вход сейчас недоступен. Повторите через минуту.",
    ),
    (
        "auth.expired",
        "Your form expired. Please try again.",
        "Форма устарела. Попробуйте ещё раз.",
    ),
    (
        "auth.logged_out",
        "You have logged out.",
        "Вы вышли из системы.",
    ),
    (
        "auth.bank_admin",
        "Bank administrators work through the API and the models page; the dashboards belong to client organisations.",
        "Администраторы банка работают через API и страницу моделей; дашборды — для организаций-клиентов.",
    ),
    ("role.owner", "Owner", "Владелец"),
    ("role.marketer", "Marketer", "Маркетолог"),
    ("role.viewer", "Viewer", "Наблюдатель"),
    ("role.bank_admin", "Bank admin", "Администратор банка"),
    ("ctl.outlet", "Outlet", "Точка"),
    ("ctl.all_outlets", "All outlets", "Все точки"),
    ("ctl.period", "Period", "Период"),
    ("ctl.days7", "7 days", "7 дней"),
    ("ctl.days30", "30 days", "30 дней"),
    ("ctl.days90", "90 days", "90 дней"),
    ("ctl.months12", "12 months", "12 месяцев"),
    ("ctl.custom", "Custom", "Свой период"),
    ("ctl.from", "From", "С"),
    ("ctl.to", "To", "По"),
    ("ctl.compare", "Compare with", "Сравнить с"),
    ("ctl.previous", "Previous period", "Предыдущим периодом"),
    (
        "ctl.last_year",
        "Same period last year",
        "Тем же периодом год назад",
    ),
    ("ctl.apply", "Apply", "Применить"),
    ("ctl.language", "Language", "Язык"),
    ("ctl.theme", "Theme", "Тема"),
    ("ctl.light", "Light", "Светлая"),
    ("ctl.dark", "Dark", "Тёмная"),
    ("ctl.auto", "Auto", "Авто"),
    ("ctl.showing", "Showing", "Показаны данные"),
    ("ctl.compared", "compared with", "в сравнении с"),
    ("common.csv", "Download CSV", "Скачать CSV"),
    ("common.change", "Change", "Изменение"),
    ("common.comparison", "Comparison", "Сравнение"),
    ("common.peer_median", "Peer median", "Медиана конкурентов"),
    ("common.value", "Value", "Значение"),
    ("common.customers", "Customers", "Клиенты"),
    ("common.revenue", "Revenue", "Выручка"),
    ("common.share", "Share", "Доля"),
    (
        "common.none",
        "No data for this period.",
        "Нет данных за этот период.",
    ),
    (
        "common.error",
        "Some figures could not be loaded",
        "Часть данных не загрузилась",
    ),
    (
        "common.hidden_title",
        "Why some figures are hidden",
        "Почему часть цифр скрыта",
    ),
    (
        "common.not_found",
        "There is no such outlet among your organisation's.",
        "У вашей организации нет такой точки.",
    ),
    (
        "common.page_not_found",
        "Page not found.",
        "Страница не найдена.",
    ),
    ("common.peer_group", "Peer group", "Группа конкурентов"),
    ("common.peers", "peers", "конкурентов"),
    ("common.in", "in", "в"),
    ("common.scored_as_of", "Scores as of", "Оценки на"),
    (
        "hidden.fewer_than_5_peers",
        "Fewer than 5 comparable merchants besides yours: a peer figure would reveal individual competitors.",
        "Меньше 5 сопоставимых точек, кроме ваших: показатель раскрыл бы отдельных конкурентов.",
    ),
    (
        "hidden.dominant_peer",
        "One merchant would make up more than 25% of the figure, so it would reveal that merchant.",
        "Одна точка составила бы более 25% показателя и была бы узнаваема.",
    ),
    (
        "hidden.fewer_than_10_customers",
        "Fewer than 10 customers: too few to show without identifying people.",
        "Меньше 10 клиентов: слишком мало, чтобы показать без риска узнать людей.",
    ),
    (
        "hidden.choose_an_outlet",
        "Peer comparisons are for one outlet: choose one above.",
        "Сравнение с конкурентами — для одной точки: выберите её выше.",
    ),
    (
        "hidden.no_data",
        "Nothing to compute it from in this period.",
        "В этом периоде не из чего считать.",
    ),
    (
        "hidden.not_scored",
        "The models have not scored these customers yet.",
        "Модели ещё не оценили этих клиентов.",
    ),
    ("kpi.revenue", "Revenue", "Выручка"),
    ("kpi.transactions", "Transactions", "Покупки"),
    ("kpi.customers", "Unique customers", "Уникальные клиенты"),
    ("kpi.average_ticket", "Average ticket", "Средний чек"),
    ("kpi.repeat_rate", "Repeat rate", "Доля повторных"),
    ("kpi.new_customers", "New customers", "Новые клиенты"),
    (
        "kpi.visits_per_customer",
        "Visits per customer",
        "Визитов на клиента",
    ),
    ("overview.title", "Overview", "Обзор"),
    ("overview.kpis", "Key figures", "Ключевые показатели"),
    ("overview.revenue_series", "Revenue", "Выручка"),
    (
        "overview.customer_series",
        "Customers and transactions",
        "Клиенты и покупки",
    ),
    (
        "overview.drivers",
        "What moved revenue",
        "Что изменило выручку",
    ),
    (
        "overview.drivers_intro",
        "Revenue = customers × visits per customer × average ticket. Each factor's contribution to the change:",
        "Выручка = клиенты × визиты на клиента × средний чек. Вклад каждого фактора в изменение:",
    ),
    ("overview.contribution", "Contribution", "Вклад"),
    ("overview.main_driver", "Biggest driver", "Главный фактор"),
    ("series.current", "This period", "Этот период"),
    ("series.comparison", "Comparison period", "Период сравнения"),
    ("series.customers", "Customers", "Клиенты"),
    ("series.transactions", "Transactions", "Покупки"),
    ("customers.title", "Customers", "Клиенты"),
    ("customers.segments", "Segments", "Сегменты"),
    ("customers.segment", "Segment", "Сегмент"),
    ("customers.trend", "Trend", "Динамика"),
    ("customers.demographics", "Age and gender", "Возраст и пол"),
    ("customers.regions", "Home regions", "Регионы проживания"),
    ("customers.region", "Region", "Регион"),
    ("customers.age", "Age", "Возраст"),
    ("customers.women", "Women", "Женщины"),
    ("customers.men", "Men", "Мужчины"),
    (
        "customers.new_returning",
        "New and returning customers",
        "Новые и постоянные клиенты",
    ),
    ("customers.new", "New", "Новые"),
    ("customers.returning", "Returning", "Постоянные"),
    ("customers.cohorts", "Cohort retention", "Удержание когорт"),
    ("customers.cohort", "First purchase", "Первая покупка"),
    ("customers.months_since", "Months later", "Месяцев спустя"),
    (
        "customers.heatmap",
        "Purchases by hour and weekday",
        "Покупки по часам и дням недели",
    ),
    ("customers.hour", "Hour", "Час"),
    ("customers.weekday", "Weekday", "День недели"),
    (
        "customers.purchasing_power",
        "Purchasing power: predicted card spend over the next 90 days, ₽",
        "Покупательская способность: прогноз трат по картам на 90 дней, ₽",
    ),
    ("customers.spend", "Expected spend per customer", "Ожидаемые траты на клиента"),
    ("customers.average_ticket", "Average ticket", "Средний чек"),
    ("categories.title", "Categories", "Категории"),
    (
        "categories.wallet",
        "Where your customers spend elsewhere",
        "Где ваши клиенты тратят ещё",
    ),
    ("categories.category", "Category", "Категория"),
    (
        "categories.share_of_wallet",
        "Share of wallet",
        "Доля кошелька",
    ),
    (
        "categories.population",
        "All cardholders",
        "Все держатели карт",
    ),
    ("categories.lift", "Lift", "Лифт"),
    (
        "categories.propensity",
        "Propensity (30 days)",
        "Склонность (30 дней)",
    ),
    ("categories.spend", "Spend", "Траты"),
    (
        "categories.partners",
        "Partner suggestions",
        "Кандидаты в партнёры",
    ),
    (
        "categories.partners_intro",
        "Nearby merchants outside your category that share many customers. They are never named unless they are Lyra clients who agreed to be.",
        "Точки рядом, вне вашей категории, с большим числом общих клиентов. Их названия не раскрываются, если только это не клиенты Lyra, давшие согласие.",
    ),
    ("categories.city", "City", "Город"),
    (
        "categories.overlap",
        "Customer overlap",
        "Пересечение клиентов",
    ),
    ("categories.lyra_client", "Lyra client", "Клиент Lyra"),
    ("categories.yes", "yes", "да"),
    ("categories.no", "no", "нет"),
    ("competitors.title", "Competitors", "Конкуренты"),
    (
        "competitors.ranks",
        "Where you stand among peers",
        "Ваше место среди конкурентов",
    ),
    ("competitors.percentile", "Percentile", "Перцентиль"),
    (
        "competitors.market_share",
        "Market share in the peer group",
        "Доля рынка в группе конкурентов",
    ),
    ("competitors.week", "Week", "Неделя"),
    ("competitors.flows", "Customer flows", "Перетоки клиентов"),
    ("competitors.flow", "Flow", "Переток"),
    ("competitors.base", "Base", "База"),
    (
        "competitors.rules",
        "Peer figures are medians and percentiles of a fixed peer group (category group × city), never one competitor's figure.",
        "Показатели конкурентов — медианы и перцентили фиксированной группы (категория × город), а не цифры отдельного конкурента.",
    ),
    (
        "flow.lost_to_peers",
        "Your lapsed customers now buying from peers",
        "Ваши ушедшие клиенты, покупающие у конкурентов",
    ),
    (
        "flow.won_from_peers",
        "Peers' lapsed customers now buying from you",
        "Ушедшие клиенты конкурентов, покупающие у вас",
    ),
    ("forecast.title", "Forecast", "Прогноз"),
    (
        "forecast.weekly",
        "Weekly demand for the next 8 weeks",
        "Недельный спрос на 8 недель вперёд",
    ),
    ("forecast.interval", "80% interval", "80% интервал"),
    ("forecast.median", "Forecast (median)", "Прогноз (медиана)"),
    ("forecast.week", "Week", "Неделя"),
    (
        "forecast.stock",
        "Suggested stock (purchases)",
        "Рекомендуемый запас (покупок)",
    ),
    (
        "forecast.accuracy",
        "Accuracy of past forecasts",
        "Точность прошлых прогнозов",
    ),
    (
        "forecast.accuracy_intro",
        "Past forecasts compared with what actually happened (WAPE: weighted absolute percentage error, lower is better; coverage: how often the actual value fell inside the 80% interval).",
        "Прошлые прогнозы в сравнении с фактом (WAPE — взвешенная ошибка, чем ниже, тем лучше; покрытие — как часто факт попадал в 80% интервал).",
    ),
    ("forecast.horizon", "Weeks ahead", "Недель вперёд"),
    ("forecast.weeks", "Weeks measured", "Недель измерено"),
    ("forecast.coverage", "Coverage", "Покрытие"),
    ("forecast.all", "all", "все"),
    ("forecast.origin", "Forecast made on", "Прогноз построен"),
    ("forecast.model", "model version", "версия модели"),
    ("forecast.revenue_p10", "Low (p10)", "Низ (p10)"),
    ("forecast.revenue_p90", "High (p90)", "Верх (p90)"),
    (
        "forecast.none",
        "No forecast yet: the pipeline has not run for these outlets.",
        "Прогноза ещё нет: конвейер не запускался для этих точек.",
    ),
    ("settings.title", "Settings", "Настройки"),
    ("settings.users", "Users and roles", "Пользователи и роли"),
    ("settings.name", "Name", "Имя"),
    ("settings.role", "Role", "Роль"),
    ("settings.status", "Status", "Статус"),
    ("settings.active", "active", "активен"),
    ("settings.disabled", "disabled", "отключён"),
    ("settings.save", "Save", "Сохранить"),
    ("settings.disable", "Disable", "Отключить"),
    ("settings.enable", "Enable", "Включить"),
    ("settings.add_user", "Add a user", "Добавить пользователя"),
    ("settings.add", "Add", "Добавить"),
    ("settings.tokens", "API tokens", "API-токены"),
    ("settings.token_name", "Token name", "Название токена"),
    ("settings.scopes", "Scopes", "Права"),
    ("settings.created", "Created", "Создан"),
    ("settings.last_used", "Last used", "Использован"),
    ("settings.never", "never", "никогда"),
    ("settings.revoked", "revoked", "отозван"),
    ("settings.revoke", "Revoke", "Отозвать"),
    ("settings.create_token", "Create a token", "Создать токен"),
    ("settings.create", "Create", "Создать"),
    (
        "settings.new_token",
        "Your new token. Copy it now: it is shown only once.",
        "Ваш новый токен. Скопируйте его сейчас: он показывается один раз.",
    ),
    (
        "settings.owners_only",
        "Only the organisation's owners manage users and API tokens.",
        "Пользователями и токенами управляют только владельцы организации.",
    ),
    ("settings.you", "You are logged in as", "Вы вошли как"),
    ("settings.done", "Saved.", "Сохранено."),
    ("settings.refused", "Not saved", "Не сохранено"),
    ("unit.million", "M", "\u{a0}млн"),
    ("unit.thousand", "k", "\u{a0}тыс."),
    ("weekday.1", "Mon", "Пн"),
    ("weekday.2", "Tue", "Вт"),
    ("weekday.3", "Wed", "Ср"),
    ("weekday.4", "Thu", "Чт"),
    ("weekday.5", "Fri", "Пт"),
    ("weekday.6", "Sat", "Сб"),
    ("weekday.7", "Sun", "Вс"),
    ("segment.Champions", "Champions", "Чемпионы"),
    ("segment.Loyal", "Loyal", "Лояльные"),
    (
        "segment.Potential loyalists",
        "Potential loyalists",
        "Потенциально лояльные",
    ),
    ("segment.New", "New", "Новые"),
    ("segment.At risk", "At risk", "Под угрозой ухода"),
    ("segment.Can't lose", "Can't lose", "Нельзя потерять"),
    ("segment.Hibernating", "Hibernating", "Спящие"),
    ("segment.Lost", "Lost", "Ушедшие"),
    ("group.groceries", "Groceries", "Продукты"),
    ("group.restaurants", "Restaurants", "Рестораны"),
    ("group.fast_food", "Fast food", "Фастфуд"),
    ("group.fuel", "Fuel", "Топливо"),
    ("group.pharmacy", "Pharmacy", "Аптеки"),
    ("group.clothing", "Clothing", "Одежда"),
    ("group.electronics", "Electronics", "Электроника"),
    ("group.home", "Home", "Дом"),
    ("group.beauty", "Beauty", "Красота"),
    ("group.transport", "Transport", "Транспорт"),
    ("group.travel", "Travel", "Путешествия"),
    ("group.entertainment", "Entertainment", "Развлечения"),
    ("group.education", "Education", "Образование"),
    ("group.health", "Health", "Здоровье"),
    ("group.sports", "Sports", "Спорт"),
    ("group.pets", "Pets", "Животные"),
    ("group.books", "Books", "Книги"),
    ("group.hotels", "Hotels", "Гостиницы"),
    ("group.telecom", "Telecom", "Связь"),
    ("group.other", "Other", "Другое"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_both_languages() {
        assert_eq!(Lang::En.int(1_234_567), "1,234,567");
        assert_eq!(Lang::Ru.int(-1_234), "−1\u{a0}234");
        assert_eq!(Lang::En.money(82_998_639.0), "829,986\u{a0}₽");
        assert_eq!(Lang::Ru.percent(0.476673), "47,7\u{a0}%");
        assert_eq!(Lang::En.change(0.062058), "+6.2%");
        assert_eq!(Lang::En.change(-0.002024), "−0.2%");
        assert_eq!(Lang::En.money_short(123_456_789.0), "1.2M\u{a0}₽");
        assert_eq!(Lang::Ru.money_short(5_000_000.0), "50\u{a0}тыс.\u{a0}₽");
        assert_eq!(Lang::En.date("2026-10-02"), "2 Oct 2026");
        assert_eq!(Lang::Ru.date("2026-10-02"), "02.10.2026");
        assert_eq!(Lang::En.short_date("2026-10-02"), "Oct 2");
        assert_eq!(Lang::Ru.short_date("2026-10-02"), "02.10");
    }

    #[test]
    fn keys_are_unique_and_translated() {
        let mut seen = std::collections::BTreeSet::new();
        for (key, en, ru) in TEXTS {
            assert!(seen.insert(key), "{key} twice");
            assert!(!en.is_empty() && !ru.is_empty(), "{key}");
        }
    }

    /// Every `t("…")` in the app's sources names a key that exists.
    #[test]
    fn every_key_in_the_code_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                if !TEXTS.iter().any(|(k, _, _)| *k == key) {
                    missing.push(format!("{}: {key}", path.display()));
                }
            }
        }
        assert!(missing.is_empty(), "missing texts: {missing:?}");
    }

    #[test]
    fn language_from_cookie_then_browser() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::choose(None, &headers), Lang::Ru);
        headers.insert(
            axum::http::header::ACCEPT_LANGUAGE,
            "en-GB,en;q=0.9".parse().unwrap(),
        );
        assert_eq!(Lang::choose(None, &headers), Lang::En);
        assert_eq!(Lang::choose(Some("ru"), &headers), Lang::Ru);
    }
}

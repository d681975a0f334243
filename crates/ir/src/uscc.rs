//! 统一社会信用代码 (GB 32100-2015): 18 characters over a 31-symbol alphabet, the last one a
//! check character.

const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

#[derive(Debug, PartialEq, Eq)]
pub enum UsccError {
    Length(usize),
    BadChar(usize, char),
    Check { expected: char, found: char },
}

impl UsccError {
    pub fn zh(&self) -> String {
        match self {
            UsccError::Length(n) => format!("统一社会信用代码应为18位，实为{n}位"),
            UsccError::BadChar(i, c) => format!(
                "统一社会信用代码第{}位字符 `{c}` 不合法（不使用 I、O、Z、S、V）",
                i + 1
            ),
            UsccError::Check { expected, found } => {
                format!("统一社会信用代码校验位错误：应为 `{expected}`，实为 `{found}`")
            }
        }
    }
    pub fn en(&self) -> String {
        match self {
            UsccError::Length(n) => {
                format!("a unified social credit code has 18 characters, this one has {n}")
            }
            UsccError::BadChar(i, c) => format!(
                "character {} `{c}` is not allowed in a credit code (I, O, Z, S, V are never used)",
                i + 1
            ),
            UsccError::Check { expected, found } => format!(
                "credit code check character is wrong: expected `{expected}`, found `{found}`"
            ),
        }
    }
}

/// The check character for the first 17 characters.
pub fn check_char(first17: &str) -> Result<char, UsccError> {
    let mut sum = 0u32;
    for (i, c) in first17.chars().enumerate() {
        let v = ALPHABET.find(c).ok_or(UsccError::BadChar(i, c))? as u32;
        sum += v * WEIGHTS[i];
    }
    let check = (31 - sum % 31) % 31;
    Ok(ALPHABET.as_bytes()[check as usize] as char)
}

pub fn validate(code: &str) -> Result<(), UsccError> {
    let n = code.chars().count();
    if n != 18 {
        return Err(UsccError::Length(n));
    }
    if let Some((i, c)) = code.chars().enumerate().find(|(_, c)| !c.is_ascii()) {
        return Err(UsccError::BadChar(i, c));
    }
    let expected = check_char(&code[..17])?;
    // 18 ASCII characters (checked above): the last is at byte 17.
    let Some(found) = code.chars().nth(17) else {
        return Err(UsccError::Length(n));
    };
    if !ALPHABET.contains(found) {
        return Err(UsccError::BadChar(17, found));
    }
    if found != expected {
        return Err(UsccError::Check { expected, found });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn known_codes() {
        // A published code (Huawei Technologies Co., Ltd.).
        assert_eq!(validate("914403001922038216"), Ok(()));
        assert!(matches!(
            validate("914403001922038217"),
            Err(UsccError::Check { .. })
        ));
        assert!(matches!(
            validate("91440300192203821"),
            Err(UsccError::Length(17))
        ));
        assert!(matches!(
            validate("9144030019220382I6"),
            Err(UsccError::BadChar(16, 'I'))
        ));
    }
}

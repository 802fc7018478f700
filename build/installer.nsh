; Ward NSIS include (electron-builder `nsis.include`). Per-machine install.
;
; Silent install:    Ward-Setup-<version>.exe /S
; Silent uninstall:  "C:\Program Files\Ward\Uninstall Ward.exe" /S
;                    add /PURGE to also delete Ward's data (device identity record, key blobs, logs)
;                    in ProgramData and in the profile of the user who runs the uninstaller.

!include "FileFunc.nsh"

!macro customInstall
  ; Start at every user's login (HKLM Run applies to each user session).
  WriteRegStr HKLM "Software\Microsoft\Windows\CurrentVersion\Run" "Ward" '"$INSTDIR\${APP_EXECUTABLE_FILENAME}" --hidden'
  CreateDirectory "$COMMONPROGRAMDATA\Ward"
!macroend

!macro customUnInstall
  ; Stop running agents (this image name only), then remove the login item.
  nsExec::Exec 'taskkill /F /IM "${APP_EXECUTABLE_FILENAME}"'
  DeleteRegValue HKLM "Software\Microsoft\Windows\CurrentVersion\Run" "Ward"

  ; Keys and identity only when asked: /PURGE. Never on an upgrade (electron-builder passes --updated).
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "--updated" $R1
  IfErrors 0 ward_keep
  ClearErrors
  ${GetOptions} $R0 "/PURGE" $R1
  IfErrors ward_keep 0
    RMDir /r "$COMMONPROGRAMDATA\Ward"
    SetShellVarContext current
    RMDir /r "$LOCALAPPDATA\Ward"
    RMDir /r "$APPDATA\Ward"
    SetShellVarContext all
  ward_keep:
!macroend
